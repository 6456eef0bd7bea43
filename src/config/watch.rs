//! Watches the directories that hold the config file and its `file:` secrets. Kubernetes swaps a
//! `..data` symlink in the mount directory and editors rename files, so the file itself is the
//! wrong thing to watch; any event in those directories, once quiet for the debounce time,
//! means "read the config again" (the reload then decides whether anything changed).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// The directories to watch for a config file and its secret files: each file's parent as
/// written, and the parent of where it really lives when it is a symlink elsewhere.
pub fn dirs_for(config: &Path, secrets: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for file in std::iter::once(config).chain(secrets.iter().map(PathBuf::as_path)) {
        let real = std::fs::canonicalize(file).ok();
        for path in std::iter::once(file).chain(real.as_deref()) {
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dirs.contains(&parent) {
                dirs.push(parent);
            }
        }
    }
    dirs
}

/// A debounced stream of "something changed" signals.
pub struct Watch {
    dirs: Vec<PathBuf>,
    watcher: Option<RecommendedWatcher>,
    rx: mpsc::Receiver<()>,
    tx: mpsc::Sender<()>,
    debounce: Duration,
}

impl Watch {
    /// A watch over nothing yet; call [`Watch::set_dirs`].
    pub fn new(debounce: Duration) -> Self {
        // Capacity 1: events coalesce, the reload reads the latest state anyway.
        let (tx, rx) = mpsc::channel(1);
        Self {
            dirs: Vec::new(),
            watcher: None,
            rx,
            tx,
            debounce,
        }
    }

    /// Changes the debounce time.
    pub fn set_debounce(&mut self, debounce: Duration) {
        self.debounce = debounce;
    }

    /// Watches exactly `dirs`. Watches are added and removed one by one on a single watcher, so
    /// a directory watched before and after never has a gap in which an update could be missed.
    /// Directories that cannot be watched are logged and skipped.
    pub fn set_dirs(&mut self, dirs: Vec<PathBuf>) {
        if dirs == self.dirs {
            return;
        }
        let old = std::mem::take(&mut self.dirs);
        let Some(watcher) = self.watcher() else {
            return;
        };
        for gone in old.iter().filter(|d| !dirs.contains(d)) {
            // A directory that vanished (an old ConfigMap version) is already unwatched.
            let _ = watcher.unwatch(gone);
        }
        let mut watched = Vec::with_capacity(dirs.len());
        for dir in dirs {
            if old.contains(&dir) {
                watched.push(dir);
                continue;
            }
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => watched.push(dir),
                // Left out, so the next refresh tries again (e.g. a Secret not mounted yet).
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch directory")
                }
            }
        }
        tracing::debug!(dirs = ?watched, "watching config directories");
        self.dirs = watched;
    }

    /// The watcher, created on first use.
    fn watcher(&mut self) -> Option<&mut RecommendedWatcher> {
        if self.watcher.is_none() {
            let tx = self.tx.clone();
            let handler = move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| !e.kind.is_access()) {
                    let _ = tx.try_send(());
                }
            };
            match notify::recommended_watcher(handler) {
                Ok(w) => self.watcher = Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch config files; reload with SIGHUP")
                }
            }
        }
        self.watcher.as_mut()
    }

    /// Resolves once files changed and then stayed quiet for the debounce time. Never resolves
    /// while nothing is watched.
    pub async fn changed(&mut self) {
        if self.rx.recv().await.is_none() {
            return std::future::pending().await;
        }
        loop {
            match tokio::time::timeout(self.debounce, self.rx.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_parents_as_written_and_as_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("c.yaml"), "x").unwrap();
        let mount = dir.path().join("mount");
        std::fs::create_dir(&mount).unwrap();
        std::os::unix::fs::symlink(real.join("c.yaml"), mount.join("c.yaml")).unwrap();
        let secret = dir.path().join("secrets/key");
        let dirs = dirs_for(&mount.join("c.yaml"), &[secret]);
        let real = std::fs::canonicalize(&real).unwrap();
        assert_eq!(dirs, [mount, real, dir.path().join("secrets")]);
    }

    #[tokio::test]
    async fn a_burst_of_events_is_one_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = Watch::new(Duration::from_millis(100));
        watch.set_dirs(vec![dir.path().to_path_buf()]);
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("f{i}")), "x").unwrap();
        }
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .unwrap();
        // Quiet now: no second change pending.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), watch.changed())
                .await
                .is_err()
        );
    }
}
