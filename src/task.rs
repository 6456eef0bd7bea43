//! Async plumbing every layer shares: the boxed future that dyn-compatible traits (providers,
//! the limits store) return. It lives at the bottom so no layer imports another just for it.

use std::future::Future;
use std::pin::Pin;

/// A boxed future borrowing its inputs (dyn-compatible async).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
