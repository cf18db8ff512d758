"""What a run leaves to look at: the JSON report (``report``) and its console views (``console``), the
face gallery (``gallery``), quality measures (``metrics``, ``stability``) gathered by frame observers
(``observers``), and provenance (``provenance``: versions, weights and input checksums, output tags).

``bench_measures`` holds tracking measures that only the benchmarks and their tests use.
"""
