//! The local model cache. (Being written.)
