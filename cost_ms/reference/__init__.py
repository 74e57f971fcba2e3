"""Slow, obvious reference implementations the fast paths are tested against: the tokenizer's maths in NumPy
(:mod:`.tokenizer`), teacher-forced and brute-force decoders (:mod:`.decoding`) and loop-by-loop metrics
(:mod:`.metrics`). Tests and benchmarks use them; production code never imports this package
(tests/test_structure.py checks the import graph).
"""
