//! Dummy models: fast, input-independent, seed-deterministic stand-ins for tests and the demo.
