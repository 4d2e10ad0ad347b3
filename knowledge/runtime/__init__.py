"""What the action server runs: the FAQ engine and the sentence encoders it queries with.

    engine.py       load an index once, search, decide (answer / clarify / decline), hot-reload
    scoring.py      kNN + classifier-head scores, calibrated; the same code scores the build
    index.py        the on-disk index as read: file names, format version, search settings
    encoders/       sentence encoders behind one interface (ONNX Runtime, numpy,
                    sentence-transformers) and load_encoder, which picks one for a model
"""
