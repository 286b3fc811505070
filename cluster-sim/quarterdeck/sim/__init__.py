"""The deterministic cluster simulator: scenarios, the engine, its read views and Prometheus-style
series, the benchmark metrics, the controller protocol and the runner.

Entry points: `scenario.load_scenario`, `engine.Simulator`, `runner.run`, `controllers.make`.
"""
