//! The hand-off between request threads and stdout: formatted, redacted log lines are appended to
//! one shared buffer under a short lock, and a dedicated thread writes what accumulated over
//! [`LINGER`] in a single `write`. Request threads never make the write system call, never
//! contend on stdout's lock, and never stall on a slow reader of the pipe (the container
//! runtime) until a whole [`MAX_PENDING_BYTES`] is waiting: then they wait for room rather than
//! drop lines, because the access log is an audit trail.
//!
//! The writer wakes once per batch, not once per line: a thread woken for every line cost more
//! than it saved on two cores (BENCHMARKS.md has the measurements).

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Bytes of log lines that may wait for the writer before loggers wait too.
pub const MAX_PENDING_BYTES: usize = 1 << 20;
/// How long the writer lets lines gather after the first one arrives.
pub const LINGER: Duration = Duration::from_millis(10);
/// Capacity a written batch keeps for the next one. Under load a batch (the lines of one
/// [`LINGER`]) fits in it; a burst's larger batch is not kept for the life of the pod (two
/// buffers alternate, and each held the burst's largest batch: ~1.5 MiB after 1,000 streams).
const RETAINED_BATCH_BYTES: usize = 64 << 10;
/// Name of the writer thread.
const WRITER_THREAD: &str = "log-writer";

/// The process's queue, once its writer thread runs.
static QUEUE: OnceLock<Option<Arc<Queue>>> = OnceLock::new();

#[derive(Default)]
struct State {
    /// Lines not yet handed to the writer.
    pending: Vec<u8>,
    /// The writer sleeps and needs a wake-up (under load it never does, and loggers skip the
    /// system call a notification costs).
    writer_idle: bool,
    /// The writer holds a batch it has not written yet.
    writing: bool,
    /// Someone waits in [`flush`]: write without lingering.
    urgent: bool,
}

/// Lines waiting for the writer thread.
#[derive(Default)]
struct Queue {
    state: Mutex<State>,
    /// Signals the writer: lines arrived.
    arrived: Condvar,
    /// Signals loggers and [`flush`]: a batch was written.
    written: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A logger that panicked mid-append leaves at worst a partial line; keep logging.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, line: &[u8]) {
        let mut state = self.lock();
        while state.pending.len() >= MAX_PENDING_BYTES {
            state = self
                .written
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.pending.extend_from_slice(line);
        if state.writer_idle || state.pending.len() >= MAX_PENDING_BYTES / 2 {
            state.writer_idle = false;
            self.arrived.notify_one();
        }
    }

    /// The writer thread: swaps the pending lines out, writes them, repeats.
    fn write_loop(&self, out: &mut impl Write) {
        let mut batch = Vec::new();
        loop {
            {
                let mut state = self.lock();
                state.writing = false;
                self.written.notify_all();
                while state.pending.is_empty() {
                    state.writer_idle = true;
                    state = self
                        .arrived
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if !state.urgent && state.pending.len() < MAX_PENDING_BYTES / 2 {
                    // Woken early by a filling queue or a flush; a spurious wake-up only
                    // writes a smaller batch.
                    state = self
                        .arrived
                        .wait_timeout(state, LINGER)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                state.urgent = false;
                std::mem::swap(&mut state.pending, &mut batch);
                state.writing = true;
            }
            // Nowhere to report a failed write to stdout; the next batch tries again.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            recycle(&mut batch);
        }
    }

    fn flush(&self) {
        let mut state = self.lock();
        state.urgent = true;
        self.arrived.notify_one();
        while !state.pending.is_empty() || state.writing {
            state = self
                .written
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Empties a written batch for reuse, giving back what a burst grew it to beyond
/// [`RETAINED_BATCH_BYTES`].
fn recycle(batch: &mut Vec<u8>) {
    batch.clear();
    batch.shrink_to(RETAINED_BATCH_BYTES);
}

/// Starts the writer thread (once); `None` when no thread can be started, and lines are then
/// written by the loggers themselves.
fn queue() -> Option<&'static Arc<Queue>> {
    QUEUE
        .get_or_init(|| {
            let queue = Arc::new(Queue::default());
            let writer = queue.clone();
            std::thread::Builder::new()
                .name(WRITER_THREAD.to_owned())
                .spawn(move || writer.write_loop(&mut io::stdout()))
                .ok()
                .map(|_| queue)
        })
        .as_ref()
}

/// Waits until every line logged so far is written (before the process exits).
pub fn flush() {
    if let Some(Some(queue)) = QUEUE.get() {
        queue.flush();
    }
}

/// Stdout through the writer thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueuedStdout;

impl<'a> MakeWriter<'a> for QueuedStdout {
    type Writer = QueuedWriter;

    fn make_writer(&'a self) -> QueuedWriter {
        QueuedWriter
    }
}

/// Appends what it is given to the queue (the formatter writes each line whole).
#[derive(Debug)]
pub struct QueuedWriter;

impl Write for QueuedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match queue() {
            Some(queue) => queue.push(buf),
            None => io::stdout().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// A writer that reports each write on a channel.
    struct Reported(mpsc::Sender<Vec<u8>>);

    impl Write for Reported {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.0.send(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_written_batch_keeps_at_most_the_retained_capacity() {
        // (capacity before, capacity kept for reuse)
        for (before, kept) in [
            (1 << 10, 1 << 10),
            (RETAINED_BATCH_BYTES, RETAINED_BATCH_BYTES),
            (4 * RETAINED_BATCH_BYTES, RETAINED_BATCH_BYTES),
        ] {
            let mut batch = vec![b'x'; before];
            recycle(&mut batch);
            assert!(batch.is_empty());
            assert_eq!(batch.capacity(), kept, "a batch of {before} bytes");
        }
    }

    #[test]
    fn lines_arrive_whole_and_in_order_and_flush_waits_for_them() {
        let queue = Arc::new(Queue::default());
        let (tx, rx) = mpsc::channel();
        let writer = queue.clone();
        std::thread::spawn(move || writer.write_loop(&mut Reported(tx)));
        let lines: Vec<String> = (0..1000).map(|i| format!("line {i}\n")).collect();
        for line in &lines {
            queue.push(line.as_bytes());
        }
        queue.flush();
        let written: Vec<u8> = rx.try_iter().flatten().collect();
        assert_eq!(String::from_utf8(written).unwrap(), lines.concat());
    }

    #[test]
    fn a_full_queue_makes_loggers_wait_not_drop() {
        let queue = Arc::new(Queue::default());
        let line = vec![b'x'; MAX_PENDING_BYTES];
        // No writer yet: the first line fills the queue; the second must wait for it.
        queue.push(&line);
        let pusher = {
            let queue = queue.clone();
            std::thread::spawn(move || queue.push(b"last\n"))
        };
        let (tx, rx) = mpsc::channel();
        let writer = queue.clone();
        std::thread::spawn(move || writer.write_loop(&mut Reported(tx)));
        pusher.join().unwrap();
        queue.flush();
        let written: Vec<u8> = rx.try_iter().flatten().collect();
        assert_eq!(written.len(), MAX_PENDING_BYTES + b"last\n".len());
        assert!(written.ends_with(b"last\n"));
    }
}
