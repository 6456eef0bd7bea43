//! Watches the directories that hold the config file and its `file:` secrets. Kubernetes swaps a
//! `..data` symlink in the mount directory and editors rename files, so the file itself is the
//! wrong thing to watch: its directory is watched, and an event there counts only when it names
//! the config file, one of its secret files (as written or where their symlinks lead) or the
//! `..data` link. Anything else sharing the directory (a usage file, a log, an editor's swap
//! file) never triggers a reload. Once quiet for the debounce time, a change means "read the
//! config again" (the reload then decides whether anything changed).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// The entry Kubernetes swaps atomically in a ConfigMap or Secret mount on every update.
const K8S_DATA_LINK: &str = "..data";

/// What to watch for a config file and its secret files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// Each file's parent as written, and the parent of where it really lives when it is a
    /// symlink elsewhere.
    pub dirs: Vec<PathBuf>,
    /// The paths whose events count: the files as written and as resolved, in those
    /// directories.
    pub files: Vec<PathBuf>,
}

impl Targets {
    /// The targets for `config` and its `secrets`.
    pub fn of(config: &Path, secrets: &[PathBuf]) -> Self {
        let mut targets = Self::default();
        for file in std::iter::once(config).chain(secrets.iter().map(PathBuf::as_path)) {
            let real = std::fs::canonicalize(file).ok();
            for path in std::iter::once(file).chain(real.as_deref()) {
                let parent = match path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let Some(name) = path.file_name() else {
                    continue;
                };
                push_new(&mut targets.files, parent.join(name));
                push_new(&mut targets.dirs, parent);
            }
        }
        targets
    }

    /// Whether an event on `paths` may change the config. Events that name no path (the
    /// watcher lost track, e.g. an overflowed queue) count, to be safe.
    fn concern(&self, paths: &[PathBuf]) -> bool {
        paths.is_empty()
            || paths.iter().any(|path| {
                path.file_name().is_some_and(|name| name == K8S_DATA_LINK)
                    || self.files.iter().any(|file| file == path)
            })
    }
}

fn push_new(list: &mut Vec<PathBuf>, path: PathBuf) {
    if !list.contains(&path) {
        list.push(path);
    }
}

/// A debounced stream of "something changed" signals.
pub struct Watch {
    dirs: Vec<PathBuf>,
    /// Read by the watcher's thread for every event; replaced on every refresh.
    targets: Arc<RwLock<Targets>>,
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
            targets: Arc::default(),
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

    /// Watches exactly `targets`' directories, for events on its files. Watches are added and
    /// removed one by one on a single watcher, so a directory watched before and after never
    /// has a gap in which an update could be missed. Directories that cannot be watched are
    /// logged and skipped.
    pub fn set_targets(&mut self, targets: Targets) {
        let dirs = targets.dirs.clone();
        if let Ok(mut current) = self.targets.write() {
            *current = targets;
        }
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
            let targets = Arc::clone(&self.targets);
            let handler = move |event: notify::Result<notify::Event>| {
                let concerns = |e: &notify::Event| {
                    !e.kind.is_access()
                        && targets
                            .read()
                            .map_or(true, |targets| targets.concern(&e.paths))
                };
                if event.is_ok_and(|e| concerns(&e)) {
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
        let targets = Targets::of(&mount.join("c.yaml"), std::slice::from_ref(&secret));
        let real = std::fs::canonicalize(&real).unwrap();
        assert_eq!(
            targets.dirs,
            [mount.clone(), real.clone(), dir.path().join("secrets")]
        );
        assert_eq!(
            targets.files,
            [mount.join("c.yaml"), real.join("c.yaml"), secret.clone()]
        );
        let cases = [
            (vec![mount.join("c.yaml")], true),
            (vec![real.join("c.yaml")], true),
            (vec![secret], true),
            (vec![mount.join("..data")], true),
            (vec![mount.join("..data_tmp"), mount.join("..data")], true),
            (vec![], true),
            (vec![mount.join("usage.jsonl")], false),
            (vec![mount.join(".c.yaml.swp")], false),
            (vec![dir.path().join("secrets/other")], false),
        ];
        for (paths, want) in cases {
            assert_eq!(targets.concern(&paths), want, "{paths:?}");
        }
    }

    #[tokio::test]
    async fn a_burst_of_events_is_one_change() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        let mut watch = Watch::new(Duration::from_millis(100));
        watch.set_targets(Targets::of(&config, &[]));
        for _ in 0..5 {
            std::fs::write(&config, "x").unwrap();
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

    #[tokio::test]
    async fn other_files_in_the_directory_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, "x").unwrap();
        let mut watch = Watch::new(Duration::from_millis(50));
        watch.set_targets(Targets::of(&config, &[]));
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("usage{i}.jsonl")), "{}").unwrap();
        }
        // The config file's own change, after the others: the first change seen must be it.
        std::fs::write(&config, "y").unwrap();
        tokio::time::timeout(Duration::from_secs(5), watch.changed())
            .await
            .unwrap();
        std::fs::write(dir.path().join("usage0.jsonl"), "{}{}").unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(300), watch.changed())
                .await
                .is_err(),
            "a write to another file is not a change"
        );
    }
}
