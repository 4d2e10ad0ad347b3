"""Lab tools, never imported by the bot: the benchmark, its synthetic indexes, fine-tuning.

    bench.py        `python -m knowledge.tools.bench`: accuracy and latency, printed as a table
    synthetic.py    seeded synthetic indexes for the scale part of the benchmark
    tune.py         `python -m knowledge.tools.tune`: fine-tune the encoder on the FAQ
"""
