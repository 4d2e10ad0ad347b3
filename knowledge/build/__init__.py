"""Building the FAQ index: `python -m knowledge.build [--faq PATH] [--index-dir DIR] [--model M]`.

    sources.py      the FAQ files (YAML, CSV, Markdown) as validated entries
    builder.py      embed (incrementally), calibrate, write the index
    calibrate.py    decision thresholds from cross-validation on the FAQ itself
    index_store.py  writing the on-disk index atomically
    onnx_export.py  `python -m knowledge.build.onnx_export`: the model exported to ONNX once
    gaps.py         knowledge gaps: cluster the questions the bot could not answer, nearest entry
    faq_edit.py     write to the YAML sources: paraphrases of an entry, or a new entry

gaps.py and faq_edit.py serve crm_store.gaps (the Insights page turns a gap into FAQ text, then
the index is rebuilt): they decide what the next build is made of.

The runtime (knowledge.runtime) reads what this writes and never imports it.
"""

from knowledge.build.builder import DEFAULT_OOS, BuildReport, build, main, read_oos

__all__ = ["DEFAULT_OOS", "BuildReport", "build", "main", "read_oos"]
