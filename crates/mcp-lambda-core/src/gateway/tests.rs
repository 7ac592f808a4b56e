//! Gateway rule tests (in-process, fake upstream).
