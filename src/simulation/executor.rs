//! The world's scheduler: every task of every host on the calling thread, one at a time,
//! the next one picked among those ready by the seeded generator. The same seed makes the
//! same choices, so a run replays exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Wake, Waker};

use super::HostId;
use super::rng::Rng;
use crate::io::Task;

/// Tasks by id, with the host each runs on; a task being polled is out of the map.
#[derive(Default)]
struct Tasks {
    tasks: BTreeMap<u64, (HostId, Option<Task>)>,
    next: u64,
}

/// The ids of the tasks woken since they were last polled.
type Ready = Arc<Mutex<BTreeSet<u64>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wakes one task: puts its id in the ready set. A deferred wake (a slow host's) also
/// lets the task run when it is next picked.
struct TaskWaker {
    id: u64,
    ready: Ready,
    allow: Option<Arc<Mutex<BTreeSet<u64>>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(allow) = &self.allow {
            lock(allow).insert(self.id);
        }
        lock(&self.ready).insert(self.id);
    }
}

pub(crate) struct Executor {
    tasks: Mutex<Tasks>,
    ready: Ready,
    /// Tasks of slow hosts whose delay has passed: they run when next picked.
    allowed: Arc<Mutex<BTreeSet<u64>>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("tasks", &lock(&self.tasks).tasks.len())
            .field("ready", &lock(&self.ready).len())
            .finish()
    }
}

impl Executor {
    pub(crate) fn new() -> Self {
        Self {
            tasks: Mutex::default(),
            ready: Ready::default(),
            allowed: Arc::default(),
        }
    }

    /// Adds a task on `host`, ready to run.
    pub(crate) fn spawn(&self, host: HostId, task: Task) {
        let id = {
            let mut tasks = lock(&self.tasks);
            tasks.next += 1;
            let id = tasks.next;
            tasks.tasks.insert(id, (host, Some(task)));
            id
        };
        lock(&self.ready).insert(id);
    }

    /// Picks one of the ready tasks, as the generator says.
    pub(crate) fn pick(&self, rng: &mut Rng) -> Option<u64> {
        let mut ready = lock(&self.ready);
        if ready.is_empty() {
            return None;
        }
        let index = rng.below(ready.len() as u64) as usize;
        let id = *ready.iter().nth(index).expect("index below the length");
        ready.remove(&id);
        Some(id)
    }

    /// Polls task `id` once (nothing if it has gone: finished, or its host crashed).
    pub(crate) fn poll(&self, id: u64) {
        let Some(mut task) = lock(&self.tasks)
            .tasks
            .get_mut(&id)
            .and_then(|(_, task)| task.take())
        else {
            return;
        };
        let waker = Waker::from(Arc::new(TaskWaker {
            id,
            ready: Arc::clone(&self.ready),
            allow: None,
        }));
        let done = task
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready();
        let mut tasks = lock(&self.tasks);
        match tasks.tasks.get_mut(&id) {
            Some(slot) if !done => slot.1 = Some(task),
            Some(_) => {
                tasks.tasks.remove(&id);
            }
            None => {} // its host crashed while it ran: dropped below, outside the lock
        }
        drop(tasks);
    }

    /// The host task `id` runs on, while it exists.
    pub(crate) fn host_of(&self, id: u64) -> Option<HostId> {
        lock(&self.tasks).tasks.get(&id).map(|(host, _)| *host)
    }

    /// Whether a deferred wake let task `id` run now (and uses that permission up).
    pub(crate) fn take_allowed(&self, id: u64) -> bool {
        lock(&self.allowed).remove(&id)
    }

    /// A waker that, when woken, makes task `id` ready and lets it run.
    pub(crate) fn deferred_waker(&self, id: u64) -> Waker {
        Waker::from(Arc::new(TaskWaker {
            id,
            ready: Arc::clone(&self.ready),
            allow: Some(Arc::clone(&self.allowed)),
        }))
    }

    /// Drops every task of `host` (a crash): their sockets and connections go with them.
    pub(crate) fn kill(&self, host: HostId) {
        let killed: Vec<Option<Task>> = {
            let mut tasks = lock(&self.tasks);
            let ids: Vec<u64> = (tasks.tasks.iter())
                .filter(|(_, (h, _))| *h == host)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| tasks.tasks.remove(&id).map(|(_, task)| task))
                .collect()
        };
        // Dropping a task may spawn (a socket's close on drop): outside the lock.
        drop(killed);
    }

    /// Drops every task (the world is going away): tasks hold their world through their
    /// hosts' runtimes, so they must go first. Dropping one may spawn another (a socket's
    /// close on drop), which goes too.
    pub(crate) fn kill_all(&self) {
        for _ in 0..16 {
            let killed: Vec<Option<Task>> = {
                let mut tasks = lock(&self.tasks);
                std::mem::take(&mut tasks.tasks)
                    .into_values()
                    .map(|(_, task)| task)
                    .collect()
            };
            if killed.is_empty() {
                break;
            }
            drop(killed);
        }
        lock(&self.ready).clear();
    }

    /// Tasks alive on `host`.
    pub(crate) fn count(&self, host: HostId) -> usize {
        let tasks = lock(&self.tasks);
        tasks.tasks.values().filter(|(h, _)| *h == host).count()
    }
}
