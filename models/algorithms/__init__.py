"""Cost models of algorithmic techniques: each a pure function of array-valued knobs."""
