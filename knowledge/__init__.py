"""FAQ knowledge: the runtime the bot queries, the build that writes the index, lab tools.

    faq/            the demo FAQ (YAML sources)
    runtime/        engine and encoders: loaded by the action server
    build/          sources, embedding, calibration, index writing: `python -m knowledge.build`
    tools/          benchmark, synthetic data, fine-tuning: never imported by the bot

runtime imports neither build nor tools; build imports runtime (the same encoders and scoring).
"""
