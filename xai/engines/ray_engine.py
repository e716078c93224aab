"""The Ray engine: `embed`, `predict`, `explain` and `audit-all` computed on a pool of Ray workers, one machine or a cluster.

Each worker is a Ray actor that loads the run's models (or the backbone) once,
with TensorFlow's thread pools sized to its CPU share, and then processes small
batches of clips; the driver keeps one task in flight per worker, so a result
always belongs to the worker that computed it. The computation per clip is the
local one (`xai.audit.runner.audit_one`, `TrainedModel.predict_clip`,
`ensemble.data.embedding_cache.embed_patches`), so a clip gives the same numbers on
either engine. Audit workers write each clip folder themselves, atomically
(`core.io.atomic_directory`), into the audit folder, which must therefore be
on a filesystem every node sees; the driver writes the index, summary and report.

Faults: an exception on one clip is returned as that clip's failure and the
batch goes on; a worker process that dies is restarted by Ray and its batch
retried (``MAX_TASK_RETRIES``); a batch that still kills its worker fails alone
and the worker is replaced (at most ``workers`` times). Ctrl-C kills the
workers and stops the local Ray instance before the interrupt goes on.

Ray is imported only here, and only when a `RayEngine` starts.
"""

from __future__ import annotations

import functools
import os
import pickle
import resource
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from seraudit.core.errors import SerauditError

MAX_RESTARTS = 2  # restarts of one worker process by Ray
MAX_TASK_RETRIES = 2  # retries of the batch a dead worker was processing
LOCAL_OBJECT_STORE_BYTES = 512 * 2**20  # results are small: clip records, predictions, per-file embeddings
FAULT_MARKER_ENV = "SERAUDIT_RAY_FAULT_MARKER"  # tests: the first worker to start a clip creates this file and dies
FORWARDED_ENV_PREFIXES = ("SERAUDIT_", "TF_CPP_MIN_LOG_LEVEL")


@dataclass
class RayOptions:
    """Where and how wide the engine runs (the `--ray-address`, `--workers`, `--cpus-per-worker`, `--gpus-per-worker` flags)."""

    address: str | None = None  # None: start a local instance with workers x cpus_per_worker CPUs; "auto" or HOST:PORT: join
    workers: int = 2
    cpus_per_worker: int = 1
    gpus_per_worker: float | None = None  # None: a share of the cluster's GPUs when it has any, else none
    batch: int = 1  # clips per task


def worker_env() -> dict[str, str]:
    """The driver's SERAudit settings (models folder, cache folder, ...) that every worker must share."""
    return {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}


def size_thread_pools(cpus: int) -> None:
    """Give this process's TensorFlow ``cpus`` intra-op threads, so workers on one node do not oversubscribe it;
    GPU memory grows as needed, so workers sharing a GPU fit on it."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, cpus))
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # TensorFlow already ran an op in this process: its settings are fixed
        pass


def _fault_for_tests() -> None:
    marker = os.environ.get(FAULT_MARKER_ENV)
    if not marker:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os._exit(17)  # dies as it starts a clip, once across the whole pool


def _portable(error: BaseException) -> BaseException:
    """The exception itself when it survives pickling (so the driver can raise the same type), else its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


class ClipWorker:
    """One Ray actor: builds its job once (models loaded), then maps it over batches of items."""

    def __init__(self, job: Any, cpus: int):
        size_thread_pools(cpus)
        self.job = job
        self.job.setup()

    def ready(self) -> bool:
        return True

    def process(self, batch: Sequence[tuple[int, Any]]) -> tuple[list[tuple[int, bool, Any, str]], int, float]:
        """``(index, ok, result or exception, traceback)`` per item, this process's peak memory (bytes) and the seconds spent."""
        started = time.perf_counter()
        out = []
        for index, item in batch:
            _fault_for_tests()
            try:
                out.append((index, True, self.job(item), ""))
            except Exception as error:  # one bad item fails alone
                out.append((index, False, _portable(error), traceback.format_exc(limit=3)))
        return out, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, time.perf_counter() - started


# --------------------------------------------------------------------------- jobs (built on the driver, set up on a worker)
class AuditJob:
    """Audit one clip with the run's models and write its folder: `xai.audit.runner.audit_one`, as the local engine does."""

    def __init__(self, run_path: str, model_names: Sequence[str], settings: Any, out_dir: str, deviations: dict[str, list],
                 clip_options: dict | None = None):
        self.run_path, self.model_names, self.settings = run_path, list(model_names), settings
        self.out_dir, self.deviations = out_dir, deviations
        self.clip_options = dict(clip_options or {})  # require_speech, max_duration_s: as the command asked

    def setup(self) -> None:
        from seraudit.ensemble.run import Run
        from seraudit.preprocessing.pipeline import clip_features

        from seraudit.xai.audit.runner import ClipModels

        run = Run.open(self.run_path)
        self.models = ClipModels(run.models(self.model_names), run)  # each clip's spec names its fold's models
        self.load_features = functools.partial(clip_features, gds_threshold=run.gds_threshold, **self.clip_options)

    def __call__(self, item: tuple[Any, str]) -> dict[str, Any]:
        from seraudit.ensemble.inference.shared_backbones import sharing_backbones
        from seraudit.xai.audit.runner import audit_one

        spec, key = item
        lookup = (lambda s: self.deviations.get(os.path.abspath(s.path), [])) if self.deviations else None
        models = self.models.for_spec(spec)  # the fold's models for a held-out corpus clip, else the final ones
        with sharing_backbones(models):
            return audit_one(models, spec, key, self.out_dir, self.settings, self.load_features, lookup)


class PredictJob:
    """Every chosen neural model's record for one file, as `ensemble.inference.prediction.predict_files` makes it."""

    def __init__(self, run_path: str, model_names: Sequence[str], tta: int, seed: int, require_speech: bool = False,
                 max_duration_s: float | None = None):
        self.run_path, self.model_names, self.tta, self.seed = run_path, list(model_names), tta, seed
        self.require_speech, self.max_duration_s = require_speech, max_duration_s

    def setup(self) -> None:
        from seraudit.ensemble.run import Run

        run = Run.open(self.run_path)
        self.models = {name: run.model(name) for name in self.model_names}
        self.threshold = run.gds_threshold

    def __call__(self, path: str) -> list[dict]:
        from seraudit.ensemble.inference.prediction import clip_records, load_clip

        clip = load_clip(path, self.threshold, self.require_speech, self.max_duration_s)
        return clip_records(self.models, path, clip, self.tta, self.seed, self.threshold)


class EmbedJob:
    """One file's features and per-patch embeddings, as `ensemble.inference.file_embeddings.embed_files` computes them."""

    def __init__(self, backbone: str, source: Any, seed: int, batch_size: int, clip_options: dict | None = None):
        self.backbone, self.source, self.seed, self.batch_size = backbone, source, seed, batch_size
        self.clip_options = dict(clip_options or {})

    def setup(self) -> None:
        from seraudit.ensemble.data.embedding_cache import build_embedder

        self.model = build_embedder(self.backbone, self.source, self.seed)

    def __call__(self, path: str) -> tuple[Any, Any]:
        import numpy as np

        from seraudit.ensemble.data.embedding_cache import embed_patches
        from seraudit.preprocessing.pipeline import clip_features

        clip = clip_features(path, **self.clip_options)
        data = np.asarray(clip.patches.data, np.float32)
        return clip, embed_patches(self.model, data, batch_size=self.batch_size, progress=False)


# --------------------------------------------------------------------------- the driver side
class RayEngine:
    """Connects to (or starts) Ray and maps jobs over items on ``options.workers`` actors."""

    def __init__(self, options: RayOptions, progress: bool = True, clip_options: dict | None = None):
        if options.workers < 1 or options.cpus_per_worker < 1 or options.batch < 1:
            raise SerauditError("`workers`, `cpus_per_worker` and the batch size must be 1 or more")
        self.options = options
        self.progress = progress
        # how workers load clips (require_speech, max_duration_s), as the command's flags ask
        self.clip_options = {k: v for k, v in (clip_options or {}).items() if v is not None}
        self.last_stats: dict[str, Any] = {}

    # ----------------------------------------------------------------- commands
    def audit_clips(self, run: Any, models: Sequence[Any], settings: Any, out_dir: Any,
                    pending: Sequence[tuple[int, Any, str]],
                    deviations: Callable[[Any], list] | None, load_features: Callable[[str], Any] | None = None,
                    ) -> Iterator[tuple[int, tuple[dict | None, dict | None]]]:
        """`xai.audit.runner.run_audit`'s engine hook: ``(spec index, (record, None) or (None, failure))`` per clip as they finish.

        ``load_features`` is the driver's clip loader; workers cut their clips themselves, with ``clip_options``.
        """
        from seraudit.xai.audit.runner import failure_entry

        if not pending:
            return
        if run is None:
            raise SerauditError("the Ray engine loads the models from the run folder on every worker; pass the run")
        table = {os.path.abspath(s.path): deviations(s) for _, s, _ in pending} if (settings.probe and deviations) else {}
        job = AuditJob(os.path.abspath(run.path), [m.name for m in models], settings, os.path.abspath(out_dir), table,
                       self.clip_options)
        items = [(i, (_absolute_spec(spec), key)) for i, spec, key in pending]
        by_index = {i: spec for i, spec, _ in pending}
        for i, ok, value, detail in self.map(job, items):
            if ok:
                yield i, (value, None)
            else:
                failure = failure_entry(by_index[i].path, value, detail)
                yield i, (None, {k: _as_given(v, by_index[i].path) for k, v in failure.items()})

    def predict_files(self, run: Any, paths: Sequence[str], models: Sequence[str] | None = None,
                      tta: int = 0, seed: int = 0, require_speech: bool = False,
                      max_duration_s: float | None = None) -> list[dict]:
        """`ensemble.inference.prediction.predict_files` with the neural models on the workers (eGeMAPS stays on the driver);
        a file that cannot be used gets its failure record, as locally."""
        from tqdm.auto import tqdm

        from seraudit.core.errors import AudioError
        from seraudit.ensemble.inference.prediction import (
            check_models, clip_notes, egemaps_records, failure_record, order_records,
        )
        from seraudit.ensemble.run import EGEMAPS_MODEL

        models = check_models(run, models, tta)
        neural = [m for m in models if m != EGEMAPS_MODEL]
        per_file: dict[int, list[dict]] = {}
        failed: dict[int, dict] = {}
        if neural:
            job = PredictJob(os.path.abspath(run.path), neural, tta, seed, require_speech, max_duration_s)
            with tqdm(total=len(paths), desc="predict", unit="clip", disable=not self.progress) as bar:
                for i, ok, value, _ in self.map(job, [(i, os.path.abspath(p)) for i, p in enumerate(paths)]):
                    if ok:
                        per_file[i] = [r | {"path": str(paths[i])} for r in value]
                    elif isinstance(value, AudioError):
                        failed[i] = failure_record(paths[i], _as_given(str(value), paths[i]))
                    else:
                        raise value
                    bar.update(1)
        records = order_records(neural, [per_file[i] for i in sorted(per_file)])
        used = [paths[i] for i in sorted(per_file)] if neural else list(paths)
        failures = [failed[i] for i in sorted(failed)]
        if EGEMAPS_MODEL in models and used:
            egemaps, egemaps_failed = egemaps_records(run, used, self.progress, tta, clip_notes(records))
            records += egemaps
            failures += egemaps_failed
        return records + failures

    def embed_files(self, paths: Sequence[str], backbone: str, source: Any, *, seed: int = 0, batch_size: int = 128,
                    on_skip: Callable[[str, str], None] | None = None, require_speech: bool = False,
                    max_duration_s: float | None = None) -> Any:
        """`ensemble.inference.file_embeddings.embed_files` with each file embedded on a worker; skips are reported the same way."""
        import numpy as np
        from tqdm.auto import tqdm

        from seraudit.core.errors import AudioError
        from seraudit.ensemble.inference.file_embeddings import FileEmbeddings

        results: dict[int, Any] = {}
        errors: dict[int, BaseException] = {}
        options = {**self.clip_options, "require_speech": require_speech}
        if max_duration_s is not None:
            options["max_duration_s"] = max_duration_s
        job = EmbedJob(backbone, source, seed, batch_size, options)
        with tqdm(total=len(paths), desc=f"{backbone} embeddings", unit="clip", disable=not self.progress) as bar:
            for i, ok, value, _ in self.map(job, [(i, os.path.abspath(p)) for i, p in enumerate(paths)]):
                (results if ok else errors)[i] = value
                bar.update(1)
        skipped = []
        for i in sorted(errors):
            if not isinstance(errors[i], AudioError):
                raise errors[i]  # only unusable audio is skipped, as locally
            reason = _as_given(str(errors[i]), paths[i])
            skipped.append((str(paths[i]), reason))
            if on_skip is not None:
                on_skip(str(paths[i]), reason)
        if not results:
            raise AudioError(f"no usable audio among {len(paths)} file(s); first: {skipped[0][1]}")
        order = sorted(results)
        embeddings = np.concatenate([results[i][1] for i in order]).astype(np.float32)
        return FileEmbeddings(backbone, source, embeddings, [results[i][0] for i in order],
                              [str(paths[i]) for i in order], skipped)

    # ----------------------------------------------------------------- the pool
    def map(self, job: Any, items: Sequence[tuple[int, Any]]) -> Iterator[tuple[int, bool, Any, str]]:
        """Run ``job`` over ``(index, item)`` pairs on the worker pool; yields ``(index, ok, result or error, traceback)``
        in completion order and prints the cost line at the end."""
        if not items:
            return
        ray, started_here = self._connect()
        opts = self.options
        gpus = self._gpus_per_worker(ray)
        actor_cls = ray.remote(ClipWorker).options(
            num_cpus=opts.cpus_per_worker, num_gpus=gpus, max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES,
            runtime_env={"env_vars": worker_env()},  # read now: a joined cluster's workers get this driver's settings
        )
        batches = [list(items[i : i + opts.batch]) for i in range(0, len(items), opts.batch)]
        queue = list(reversed(batches))
        n_workers = min(opts.workers, len(batches))
        actors = [actor_cls.remote(job, opts.cpus_per_worker) for _ in range(n_workers)]
        replacements = n_workers  # a worker that dies for good is replaced, this many times in all
        alive = set(range(n_workers))
        in_flight: dict[Any, tuple[int, list]] = {}  # task ref -> (worker slot, batch)
        peak: dict[int, int] = {}
        busy: dict[int, float] = {}  # seconds each worker spent on clips (the rest of the pool time is start-up and waiting)
        done = 0
        t0 = time.perf_counter()

        def submit(slot: int) -> None:
            if queue and slot in alive:
                batch = queue.pop()
                in_flight[actors[slot].process.remote(batch)] = (slot, batch)

        try:
            self._check_started(ray, actors)
            for slot in range(n_workers):
                submit(slot)
            while in_flight:
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                slot, batch = in_flight.pop(ready[0])
                try:
                    results, rss, seconds = ray.get(ready[0])
                    peak[slot] = max(peak.get(slot, 0), rss)
                    busy[slot] = busy.get(slot, 0.0) + seconds
                except ray.exceptions.RayActorError as error:  # the worker died even after Ray's restarts and retries
                    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                    reason = SerauditError(f"the worker died while processing this clip "
                                           f"(tried {MAX_TASK_RETRIES + 1} times): {first}")
                    results = [(index, False, reason, "") for index, _ in batch]
                    ray.kill(actors[slot], no_restart=True)
                    if replacements > 0:
                        replacements -= 1
                        actors[slot] = actor_cls.remote(job, opts.cpus_per_worker)
                    else:
                        alive.discard(slot)
                for result in results:
                    done += 1
                    yield result
                submit(slot)
            for batch in queue:  # only when every worker died for good
                for index, _ in batch:
                    done += 1
                    yield index, False, SerauditError("no Ray worker was left to process this clip"), ""
        except KeyboardInterrupt:
            print("stopping the Ray workers", file=sys.stderr)
            raise
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            if started_here:
                ray.shutdown()
            seconds = time.perf_counter() - t0
            self.last_stats = {"clips": done, "seconds": seconds, "workers": n_workers,
                               "peak_memory_bytes": [peak[s] for s in sorted(peak)],
                               "busy_seconds": [busy[s] for s in sorted(busy)]}
            if done:
                from tqdm.auto import tqdm

                memory = ", ".join(f"{b / 2**30:.2f}" for b in self.last_stats["peak_memory_bytes"]) or "n/a"
                tqdm.write(f"ray engine: {done} clip(s) in {seconds:.1f} s ({done / seconds:.3f} clips/s) on {n_workers} "
                           f"worker(s), peak memory per worker {memory} GiB", file=sys.stderr)

    @staticmethod
    def _check_started(ray: Any, actors: Sequence[Any]) -> None:
        """Wait until every worker has loaded its job; one that cannot (a path no node sees, ...) stops the run, saying why."""
        try:
            ray.get([actor.ready.remote() for actor in actors])
        except ray.exceptions.RayActorError as error:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            cause = next((line for line in reversed(lines) if "Error" in line.split(":")[0]), lines[-1] if lines else "")
            raise SerauditError(f"a Ray worker could not load the models: {cause}; the run, audio, models and output "
                                "folders must be at the same paths on every node") from error

    def _connect(self) -> tuple[Any, bool]:
        """The ``ray`` module, connected; True when this call started the instance (and must stop it)."""
        import logging

        try:
            import ray
        except ImportError as error:
            raise SerauditError('the Ray engine needs Ray: pip install "seraudit[ray]" (or the pinned ray of '
                                "requirements.txt)") from error

        if ray.is_initialized():
            return ray, False
        opts = self.options
        common = dict(logging_level=logging.WARNING, log_to_driver=False)
        try:
            if opts.address is None:
                ray.init(num_cpus=opts.workers * opts.cpus_per_worker, include_dashboard=False,
                         object_store_memory=LOCAL_OBJECT_STORE_BYTES, **common)
            else:
                ray.init(address=opts.address, **common)
        except ConnectionError as error:
            raise SerauditError(f"cannot join the Ray cluster at `address={opts.address}` ({error}); start it with "
                                "`ray start --head` on the head node, or leave `address` out for a local instance") from error
        return ray, True

    def _gpus_per_worker(self, ray: Any) -> float:
        if self.options.gpus_per_worker is not None:
            return float(self.options.gpus_per_worker)
        gpus = float(ray.cluster_resources().get("GPU", 0))
        return min(1.0, gpus / self.options.workers) if gpus > 0 else 0.0


def _as_given(text: str, path: Any) -> str:
    """A worker's message about the absolute path it was sent, naming the file as the user gave it (as locally)."""
    return text.replace(os.path.abspath(path), os.fspath(path))


def _absolute_spec(spec: Any) -> Any:
    """The spec with an absolute path: workers on other nodes (or in another folder) open the same file."""
    from dataclasses import replace

    return replace(spec, path=os.path.abspath(spec.path))
