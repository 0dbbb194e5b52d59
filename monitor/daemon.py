"""``flarewatch run``: the monitoring daemon's lifecycle.

Start: load the config (exit 2 with every located problem, no traceback), set up logging,
build the clients and probes, check that the Cloudflare API answers and accepts the token
(:func:`preflight`; exit 2 when it does not), bind the HTTP surface (exit 2 when the address
is taken), then schedule every probe. ``READY=1`` goes to systemd once the first round is
done, which is also when ``/readyz`` turns 200.

Run: SIGHUP or ``POST /-/reload`` reloads the file. A bad file is rejected — its problems are
logged (``config_reload_rejected``) and returned to the HTTP caller — and the running config
keeps going. A good one is swapped in without dropping the HTTP server: unchanged probes
keep their schedule and history, clients are rebuilt only if their settings changed, runs of
changed probes are cancelled and started afresh. ``server.listen`` needs a restart.

Stop: SIGTERM or SIGINT: ``STOPPING=1``, no new runs, runs in progress cancelled, HTTP
server closed, sessions closed — within 10 s, exit 0. Nothing persistent is deleted.

Logs: every probe run is kept as a row in the log store (``logs.store``, default
``<state_dir>/logs.db``), with continuous tails if configured, and Worker error alerts start an
error capture (:mod:`monitor.logsink`, :mod:`monitor.capture`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import click
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from alerting.actions import ActionContext
from alerting.lifecycle import Alert
from alerting.outbox import OutboxError
from cfapi import (
    ApiError,
    AuthError,
    CloudflareError,
    NotFound,
    PermissionDenied,
    TransportError,
)
from monitor.alerts import AlertService, AlertServiceError, observation_of
from monitor.app import App, probe_summary, secrets_of
from monitor.capture import Capturer, NotificationHook
from monitor.config import Config
from monitor.configload import (
    AlertingPlan,
    ConfigError,
    alerting_plan,
    load_config,
    load_for_command,
)
from monitor.http import AlertingOff, ReloadOutcome, make_app, refresh_interval
from monitor.logging import Redactor, configure_logging
from monitor.logsink import LogSink, SinkMetrics, policy_of
from monitor.metrics import DaemonMetrics, MetricsError
from monitor.runner import Runner, ScheduledProbe
from monitor.scheduler import Job, ProbeScheduler
from monitor.sdnotify import Notifier
from monitor.state import ApiSummary, ProbeInfo, StatusStore
from ops.logstore import StoreError
from probes.registry import Registry

log = structlog.get_logger("flarewatch")

STOP_TIMEOUT_S = 10.0
"""Everything stops within this after SIGTERM (runs get most of it to end cancelled)."""

_RUNS_STOP_S = 5.0
_HTTP_STOP_S = 2.0
PREFLIGHT_TIMEOUT_S = 15.0
"""The start-up check of the Cloudflare API gives up after this (retries included)."""


def flarewatch_version() -> str:
    """The installed distribution's version."""
    try:
        return version("flarewatch")
    except PackageNotFoundError:
        return "0+unknown"


class StartError(Exception):
    """The daemon cannot start; the message says what to fix (exit code 2)."""


@dataclass(frozen=True)
class Options:
    """Knobs of the daemon that are not user config (tests, benchmarks, the demo)."""

    preflight: bool = True
    manage_logging: bool = False
    startup_jitter_s: float = 1.0
    heartbeat_s: float = 1.0
    min_per_service: int = 4
    max_per_service: int = 64
    listen: str | None = None


async def preflight(config: Config, app: App) -> None:
    """Check that the Cloudflare API answers and accepts the token; raise :class:`StartError`.

    One request (two for an account-owned token, which ``/user/tokens/verify`` refuses)
    through the app's own client and budget, given :data:`PREFLIGHT_TIMEOUT_S` in all. A 5xx
    or 429 is not a reason to refuse to start: it is logged and the probes will report it.
    """
    base = config.cloudflare.api_base_url
    accounts = app.cf.accounts
    try:
        async with asyncio.timeout(PREFLIGHT_TIMEOUT_S):
            try:
                answer = await accounts.verify_token()
            except AuthError:
                answer = await accounts.verify_account_token(config.cloudflare.account_id)
    except TimeoutError:
        raise StartError(
            f"the Cloudflare API at {base} did not answer within {PREFLIGHT_TIMEOUT_S:g} s; "
            "check cloudflare.api_base_url (or CLOUDFLARE_API_BASE_URL) and the network"
        ) from None
    except (AuthError, PermissionDenied) as err:
        raise StartError(
            f"the Cloudflare API at {base} refused the API token ({_why(err)}); check "
            "cloudflare.api_token (or CLOUDFLARE_API_TOKEN) and the token's permissions"
        ) from None
    except TransportError as err:
        raise StartError(
            f"cannot reach the Cloudflare API at {base} ({_why(err)}); check "
            "cloudflare.api_base_url (or CLOUDFLARE_API_BASE_URL) and the network"
        ) from None
    except (NotFound, ApiError) as err:
        raise StartError(
            f"{base} does not answer like Cloudflare's v4 API ({_why(err)}); "
            "cloudflare.api_base_url should end in /client/v4"
        ) from None
    except CloudflareError as err:
        log.warning("cloudflare_preflight_inconclusive", base_url=base, error=_why(err))
        return
    if answer.status != "active":
        raise StartError(
            f"the Cloudflare API token is {answer.status}, not active; issue a new token "
            "and set cloudflare.api_token"
        )


def _why(err: CloudflareError) -> str:
    text = str(err).strip()
    return text if len(text) <= 200 else text[:199] + "…"


class Daemon:
    """The running daemon (see the module docstring); usable in-process by tests and the demo.

    ``loader`` re-reads the configuration on reload (raises :class:`ConfigError`).
    """

    def __init__(
        self,
        config: Config,
        *,
        registry: Registry,
        loader: Callable[[], Config] | None = None,
        source: str = "<memory>",
        options: Options | None = None,
        notifier: Notifier | None = None,
        redactor: Redactor | None = None,
        metrics_registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.options = options or Options()
        self.notifier = notifier if notifier is not None else Notifier(None)
        self.redactor = redactor if redactor is not None else Redactor()
        self.redactor.set_secrets(secrets_of(config))
        self._loader = loader
        self.source = source
        self.version = flarewatch_version()
        self.started_at = time.time()
        self.metrics_registry = metrics_registry or CollectorRegistry()
        self.state = StatusStore(
            version=self.version, started_at=self.started_at, config_source=source
        )
        try:
            self.metrics = DaemonMetrics(
                self.metrics_registry,
                registry,
                version=self.version,
                started_at=self.started_at,
                ready=lambda: self.state.ready,
            )
        except MetricsError as err:
            raise StartError(str(err)) from None
        self.runner = Runner(metrics=self.metrics, state=self.state, scrub=self.redactor.scrub_text)
        self.scheduler = ProbeScheduler(
            min_per_service=self.options.min_per_service,
            max_per_service=self.options.max_per_service,
            startup_jitter_s=self.options.startup_jitter_s,
            heartbeat_s=self.options.heartbeat_s,
            on_lag=self.metrics.observe_lag,
            on_skip=self.metrics.skipped,
        )
        self.app: App | None = None
        self.alerts: AlertService | None = None
        """The alert service, when the configuration has an ``alerting`` section."""
        self.metrics.bind_alerts(lambda: self.alerts)
        self.sink_metrics = SinkMetrics(self.metrics_registry)
        self.logsink: LogSink | None = None
        """The log store's writer and continuous tails (``None`` with ``logs.store: false``)."""
        self.capturer: Capturer | None = None
        """Error capture on Worker error alerts (with alerting and ``logs.capture.enabled``)."""
        self._web: web.AppRunner | None = None
        self._reload_lock = asyncio.Lock()
        self._stop_requested = asyncio.Event()
        self._stopped = False
        self._ready_announced = False
        self._ready_event = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port: int | None = None
        self.host: str | None = None

    # --- start -------------------------------------------------------------------------

    async def start(self) -> None:
        """Build, check, serve and schedule; raise :class:`StartError` when that cannot be."""
        app = await self._build(self.config, previous=None)
        try:
            if self.options.preflight:
                await preflight(self.config, app)
            self.alerts = await self._open_alerts(self.config)
            try:
                self.logsink = await self._open_sink(self.config)
                try:
                    await self._serve()
                except BaseException:
                    await self._close_sink()
                    raise
            except BaseException:
                await self._stop_alerts()
                raise
        except BaseException:
            await app.aclose()
            raise
        self.app = app
        self._install(app)
        self.metrics.loaded(time.time())
        self.scheduler.start()
        self._apply(app)
        if self.alerts is not None:
            self._start_alerts(self.alerts, app)
        self._configure_logs(app)
        self._spawn(self.notifier.watchdog_loop(self.scheduler.alive))
        log.info(
            "flarewatch_started",
            version=self.version,
            config=self.source,
            listen=f"{self.host}:{self.port}",
            probes=probe_summary(app.probes),
        )
        self._announce_ready_if_due()

    async def _build(self, config: Config, previous: App | None) -> App:
        try:
            return await App.build(config, self.registry, previous=previous, log=log)
        except (ValueError, TypeError) as err:
            raise StartError(f"the configuration cannot be used: {err}") from None

    async def _open_alerts(self, config: Config) -> AlertService | None:
        """The alert service for ``config`` (opened, not started), or ``None`` without an
        ``alerting`` section; :class:`StartError` when its state cannot be opened."""
        plan = self._plan(config)
        if plan is None:
            return None
        try:
            return await AlertService.open(
                plan, Path(config.state_dir), on_round=self.metrics.observe_alert_round
            )
        except (AlertServiceError, OutboxError) as err:
            raise StartError(f"alerting cannot start: {err}") from None

    def _plan(self, config: Config) -> AlertingPlan | None:
        try:
            return alerting_plan(config, self.registry)
        except ConfigError as err:
            raise StartError(err.report()) from None

    def _start_alerts(self, alerts: AlertService, app: App) -> None:
        alerts.start(
            ready=self.wait_ready,
            actions=self._actions(app),
            external_url=self.url,
            probes=[p.name for p in app.probes],
        )

    async def _open_sink(self, config: Config) -> LogSink | None:
        """The log store's writer (opened: retention applied), or ``None`` when disabled."""
        path = config.logs.store_path(config.state_dir)
        if path is None:
            return None
        sink = LogSink(Path(path), policy_of(config.logs.retention), metrics=self.sink_metrics)
        try:
            await sink.open()
        except (OSError, StoreError) as err:
            with contextlib.suppress(Exception):
                await sink.aclose()
            raise StartError(
                f"the log store {path} cannot be opened: {err}; make its directory writable "
                "by the user flarewatch runs as, set logs.store, or disable it (store: false)"
            ) from None
        return sink

    async def _close_sink(self) -> None:
        sink, self.logsink = self.logsink, None
        if sink is not None:
            await sink.aclose()

    def _configure_logs(self, app: App) -> None:
        """Point the tails and the error capture at ``app``'s client and settings."""
        logs = app.config.logs
        account = app.config.cloudflare.account_id
        if self.logsink is not None:
            self.logsink.retention = policy_of(logs.retention)
            self.logsink.configure_tails(app.cf, account, logs.tail)
        if self.alerts is None:
            return
        scripts = {
            p.name: str(getattr(p.probe.settings, "script", ""))
            for p in app.probes
            if p.type_name == "workers"
        }

        def script_of(alert: Alert) -> str | None:
            return alert.labels.get("script") or scripts.get(alert.labels.get("probe", "")) or None

        if self.capturer is None:
            self.capturer = Capturer(
                app.cf, account, logs.capture, script_of=script_of, metrics=self.sink_metrics
            )
        else:
            self.capturer.cf, self.capturer.account_id = app.cf, account
            self.capturer.settings, self.capturer.script_of = logs.capture, script_of
        self.alerts.hook = NotificationHook(self.capturer)

    async def _stop_capture(self) -> None:
        capturer, self.capturer = self.capturer, None
        if capturer is not None:
            await capturer.stop()

    def _actions(self, app: App) -> ActionContext:
        return ActionContext(cf=app.cf, account_id=app.config.cloudflare.account_id, http=app.http)

    async def _stop_alerts(self) -> None:
        await self._stop_capture()
        alerts, self.alerts = self.alerts, None
        if alerts is not None:
            await alerts.stop()

    async def _serve(self) -> None:
        listen = self.options.listen or self.config.server.listen
        host, _, port_text = listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        surface = _Surface(self)
        runner = web.AppRunner(
            make_app(surface, self.metrics_registry, _AlertsSurface(self)),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=_HTTP_STOP_S,
        )
        await runner.setup()
        site = web.TCPSite(runner, host, int(port_text))
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise StartError(
                f"cannot listen on {listen}: {err.strerror or err}; choose another "
                "server.listen (port 0 picks a free one), or stop what uses it"
            ) from None
        self._web = runner
        address = runner.addresses[0]
        self.host, self.port = str(address[0]), int(address[1])

    @property
    def url(self) -> str:
        """The HTTP surface's base URL (after :meth:`start`)."""
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _install(self, app: App) -> None:
        """Point the store, metrics and redactor at ``app``'s probes and clients."""
        self.state.configure(
            (
                ProbeInfo(
                    p.name,
                    p.type_name,
                    p.service,
                    p.interval_s,
                    dict(p.probe.settings.labels),
                )
                for p in app.probes
            ),
            loaded_at=time.time(),
        )
        self.metrics.set_probes(
            ((p.name, p.type_name, p.interval_s) for p in app.probes),
            {p.name: p.probe.settings.labels for p in app.probes},
        )
        self.metrics.bind_api(app.cf, app.analytics)

    def _apply(self, app: App) -> set[str]:
        return self.scheduler.apply([self._job(item) for item in app.probes])

    def _job(self, item: ScheduledProbe) -> Job:
        labels = item.probe.settings.labels

        async def run() -> float | None:
            done = await self.runner.run(item)
            if self.logsink is not None:
                self.logsink.record(done)
            if self.alerts is not None:
                self.alerts.observe(observation_of(done, labels))
            self._announce_ready_if_due()
            return done.result.rerun_in_s

        return Job(
            name=item.name,
            service=item.service,
            interval_s=item.interval_s,
            timeout_s=item.timeout_s,
            run=run,
            key=(item.probe, item.interval_s, item.timeout_s, item.ctx.cf, item.ctx.http),
        )

    def _announce_ready_if_due(self) -> None:
        if self._ready_announced or not self.state.ready:
            return
        self._ready_announced = True
        self._ready_event.set()
        took = time.time() - self.started_at
        log.info("flarewatch_ready", rounds=self.state.rounds, seconds=round(took, 3))
        self.notifier.ready(self._status_line())

    def _status_line(self) -> str:
        statuses = self.state.statuses().values()
        failing = sum(1 for s in statuses if s is not None and s.value not in ("ok", "warn"))
        return f"{len(statuses)} probes, {failing} failing"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- what the HTTP surface shows ---------------------------------------------------

    def status_document(self) -> dict[str, Any]:
        """The ``/api/v1/status`` document now."""
        api = None
        if self.app is not None:
            snap = self.app.cf.budget.snapshot()
            api = ApiSummary(
                budget_remaining=round(snap.tokens, 3),
                budget_limit=snap.capacity,
                requests_total=sum(snap.requests.values()),
            )
        alerts = () if self.alerts is None else self.alerts.status_entries()
        return self.state.document(time.time(), api, alerts)

    def health(self) -> tuple[bool, str]:
        """Alive: the scheduler runs and its heartbeat is recent."""
        if self._stopped or self._stop_requested.is_set():
            return False, "stopping"
        if not self.scheduler.running:
            return False, "the scheduler is not running"
        age = self.scheduler.heartbeat_age()
        if not self.scheduler.alive():
            return False, f"the scheduler's heartbeat is {age:.1f} s old"
        return True, "scheduler running"

    def admin_token(self) -> SecretStr | None:
        """The running config's admin token."""
        return self.config.server.admin_token

    def is_ready(self) -> bool:
        """Config loaded and first round done (and not stopping)."""
        return self.state.ready and not self._stopped

    async def wait_ready(self) -> None:
        """Return once the first round is done (``READY=1``; ``/readyz`` turning 200)."""
        await self._ready_event.wait()

    # --- reload ------------------------------------------------------------------------

    async def reload(self, origin: str = "signal") -> ReloadOutcome:
        """Reload the configuration file (see the module docstring); never raises."""
        async with self._reload_lock:
            self.notifier.reloading()
            try:
                outcome = await self._reload(origin)
            except Exception as err:  # a reload must never take the daemon down
                log.exception("config_reload_failed", origin=origin)
                outcome = self._rejected(origin, [f"reload failed: {type(err).__name__}"])
            self.notifier.ready(self._status_line())
            return outcome

    async def _reload(self, origin: str) -> ReloadOutcome:
        if self.app is None:
            return self._rejected(origin, ["the daemon is still starting; reload once it runs"])
        if self._loader is None:
            return self._rejected(origin, ["this daemon has no configuration file to reload"])
        try:
            config = self._loader()
        except ConfigError as err:
            return self._rejected(origin, [self.redactor.scrub_text(str(p)) for p in err.problems])
        old = self.app
        try:
            new = await self._build(config, previous=old)
        except StartError as err:
            return self._rejected(origin, [self.redactor.scrub_text(str(err))])
        try:
            if self.options.preflight and new.cf is not old.cf:
                await preflight(config, new)
        except BaseException as err:
            # Refused, or cancelled by a stop: what the new app opened must not leak.
            await new.aclose(keep=old)
            if isinstance(err, StartError):
                return self._rejected(origin, [self.redactor.scrub_text(str(err))])
            raise
        try:
            plan = self._plan(config)
            opened = await self._open_alerts(config) if self.alerts is None else None
        except BaseException as err:
            await new.aclose(keep=old)
            if isinstance(err, StartError):
                return self._rejected(origin, [self.redactor.scrub_text(str(err))])
            raise
        if (
            self.alerts is not None
            and plan is not None
            and config.state_dir != self.config.state_dir
        ):
            log.warning(
                "config_state_dir_unchanged",
                running=self.config.state_dir,
                configured=config.state_dir,
                hint="state_dir takes effect on restart",
            )
        if config.logs.store_path(config.state_dir) != self.config.logs.store_path(
            self.config.state_dir
        ):
            log.warning(
                "config_log_store_unchanged",
                running=self.config.logs.store_path(self.config.state_dir),
                configured=config.logs.store_path(config.state_dir),
                hint="logs.store takes effect on restart",
            )
        if config.server.listen != self.config.server.listen and self.options.listen is None:
            log.warning(
                "config_listen_unchanged",
                running=self.config.server.listen,
                configured=config.server.listen,
                hint="server.listen takes effect on restart",
            )
        if self.options.manage_logging and config.logging != self.config.logging:
            configure_logging(
                level=config.logging.level, fmt=config.logging.format, redactor=self.redactor
            )
        before = {p.name: p for p in old.probes}
        self.redactor.set_secrets([*secrets_of(config), *secrets_of(self.config)])
        self.config = config
        self.app = new
        self._install(new)
        restarted = self._apply(new)
        await self._reconfigure_alerts(plan, opened, new)
        self._configure_logs(new)
        await self.scheduler.settle(_RUNS_STOP_S)
        await old.aclose(keep=new)
        after = {p.name for p in new.probes}
        added = sorted(after - set(before))
        removed = sorted(set(before) - after)
        changed = sorted(restarted - set(added))
        self.metrics.reloaded(success=True, at=time.time())
        log.info(
            "config_reloaded",
            origin=origin,
            probes=len(new.probes),
            added=added,
            removed=removed,
            changed=changed,
        )
        return ReloadOutcome(
            True,
            f"{len(new.probes)} probes: {len(added)} added, {len(removed)} removed, "
            f"{len(changed)} changed",
        )

    async def _reconfigure_alerts(
        self, plan: AlertingPlan | None, opened: AlertService | None, app: App
    ) -> None:
        """Alerting after a reload: started, reconfigured (keeping alert state) or stopped."""
        if plan is None:
            await self._stop_alerts()
        elif opened is not None:
            self.alerts = opened
            self._start_alerts(opened, app)
        elif self.alerts is not None:
            await self.alerts.reconfigure(
                plan,
                probes=[p.name for p in app.probes],
                actions=self._actions(app),
                external_url=self.url,
            )

    def _rejected(self, origin: str, problems: list[str]) -> ReloadOutcome:
        self.metrics.reloaded(success=False, at=time.time())
        log.error(
            "config_reload_rejected",
            origin=origin,
            source=self.source,
            problems=problems,
            hint="the running configuration stays in force",
        )
        return ReloadOutcome(False, "the new configuration was rejected", tuple(problems))

    # --- stop --------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop (signal handlers call this)."""
        self._stop_requested.set()

    async def stop(self) -> None:
        """Stop everything (see the module docstring); safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self.notifier.stopping()
        log.info("flarewatch_stopping")
        await self.scheduler.shutdown(_RUNS_STOP_S)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        await self._stop_alerts()
        await self._close_sink()
        if self._web is not None:
            await self._web.cleanup()
            self._web = None
        if self.app is not None:
            await self.app.aclose()
        self.notifier.close()
        log.info("flarewatch_stopped")

    async def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT, reload on SIGHUP, stop; the exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload("signal")))
        try:
            starting = asyncio.ensure_future(self.start())
            stop_wait = asyncio.ensure_future(self._stop_requested.wait())
            await asyncio.wait({starting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not starting.done():
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError, StartError):
                    await starting
                stop_wait.cancel()
                await self._stop_within_deadline()
                return 0
            try:
                starting.result()
            except StartError as err:
                stop_wait.cancel()
                log.error("flarewatch_start_failed", error=str(err))
                click.echo(f"flarewatch: {err}", err=True)
                return 2
            await stop_wait
            await self._stop_within_deadline()
            return 0
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    async def _stop_within_deadline(self) -> None:
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await self.stop()
        except TimeoutError:
            log.error("flarewatch_stop_timeout", seconds=STOP_TIMEOUT_S)


class _Surface:
    """Adapts :class:`Daemon` to :class:`monitor.http.Surface`."""

    def __init__(self, daemon: Daemon) -> None:
        self._d = daemon

    def status_document(self) -> dict[str, Any]:
        return self._d.status_document()

    def is_ready(self) -> bool:
        return self._d.is_ready()

    def health(self) -> tuple[bool, str]:
        return self._d.health()

    def admin_token(self) -> SecretStr | None:
        return self._d.admin_token()

    async def reload(self, origin: str) -> ReloadOutcome:
        return await self._d.reload(origin)

    def page_refresh_s(self) -> float:
        app = self._d.app
        return refresh_interval([p.interval_s for p in app.probes] if app else [])


class _AlertsSurface:
    """Adapts the daemon's alert service (if any) to :class:`monitor.http.AlertsSurface`."""

    def __init__(self, daemon: Daemon) -> None:
        self._d = daemon

    def _service(self) -> AlertService:
        if self._d.alerts is None:
            raise AlertingOff
        return self._d.alerts

    def alerts_document(
        self, *, states: Sequence[str], fingerprint: str | None, rule: str | None
    ) -> dict[str, Any]:
        return self._service().alerts_document(states=states, fingerprint=fingerprint, rule=rule)

    def silences_document(self, *, states: Sequence[str]) -> dict[str, Any]:
        return self._service().silences_document(states=states)

    def silence_document(self, silence_id: str) -> dict[str, Any] | None:
        return self._service().silence_document(silence_id)

    async def add_silence(self, request: object) -> dict[str, Any]:
        return await self._service().add_silence(request)

    async def expire_silence(self, silence_id: str) -> dict[str, Any] | None:
        return await self._service().expire_silence(silence_id)


def settle_startup_heap() -> None:
    """Move what start-up allocated (modules, models, the configuration) out of the garbage
    collector's sight, and turn the collector on (``flarewatch run`` starts with it off).

    These objects live as long as the process: with :func:`gc.freeze` the collector's full
    passes no longer walk them, so the running daemon's collections stay short.
    """
    gc.freeze()
    gc.enable()


def run_daemon(path: Path) -> int:
    """``flarewatch run -c PATH``: the exit code (0 stopped, 2 bad config or cannot start)."""
    loaded = load_for_command(path)
    settle_startup_heap()
    if loaded is None:
        return 2
    config, registry = loaded
    redactor = configure_logging(
        level=config.logging.level,
        fmt=config.logging.format,
        redactor=Redactor(secrets_of(config)),
    )
    try:
        daemon = Daemon(
            config,
            registry=registry,
            loader=lambda: load_config(path, registry=registry),
            source=str(path),
            options=Options(manage_logging=True),
            notifier=Notifier.from_env(),
            redactor=redactor,
        )
    except StartError as err:
        click.echo(f"flarewatch: {err}", err=True)
        return 2
    try:
        return asyncio.run(daemon.run())
    except KeyboardInterrupt:  # Ctrl-C before the loop's handlers were in place
        return 0
