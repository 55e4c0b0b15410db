//! Placeholder replaced by the pyzmq interop tests.
