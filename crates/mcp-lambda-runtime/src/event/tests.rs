//! Event-shape tests over the fixtures in tests/data/.
