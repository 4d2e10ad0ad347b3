"""`python -m knowledge.build`: build the FAQ index (see knowledge.build.builder)."""

from knowledge.build.builder import main

raise SystemExit(main())
