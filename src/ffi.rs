//! The C ABI (version 1). See `include/nickpool.h`.
