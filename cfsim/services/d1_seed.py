"""SQL for the SpaceVision D1 databases: the app's users, missions and images, and analytics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

APP_SCHEMA = [
    """CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        email TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        plan TEXT NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'team')),
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE missions (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        agency TEXT NOT NULL,
        target TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('planned', 'active', 'completed')),
        launched_on TEXT
    )""",
    """CREATE TABLE images (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mission_id INTEGER NOT NULL REFERENCES missions (id),
        user_id INTEGER REFERENCES users (id),
        r2_key TEXT NOT NULL UNIQUE,
        bytes INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        captured_at TEXT NOT NULL,
        caption TEXT
    )""",
    "CREATE INDEX images_by_mission ON images (mission_id)",
]

USERS = [
    ("ada@spacevision.app", "Ada Lovelace", "team"),
    ("grace@spacevision.app", "Grace Hopper", "team"),
    ("margaret@example.org", "Margaret Hamilton", "pro"),
    ("katherine@example.org", "Katherine Johnson", "pro"),
    ("mae@example.net", "Mae Jemison", "free"),
    ("sally@example.net", "Sally Ride", "free"),
    ("valentina@example.com", "Valentina Tereshkova", "pro"),
    ("yuri@example.com", "Yuri Gagarin", "free"),
    ("chris@example.com", "Chris Hadfield", "free"),
    ("peggy@example.org", "Peggy Whitson", "pro"),
    ("neil@example.net", "Neil Armstrong", "free"),
    ("buzz@example.net", "Buzz Aldrin", "free"),
]

MISSIONS = [
    (1, "Hubble", "NASA/ESA", "Low Earth orbit", "active", "1990-04-24"),
    (2, "JWST", "NASA/ESA/CSA", "Sun-Earth L2", "active", "2021-12-25"),
    (3, "Perseverance", "NASA", "Mars, Jezero crater", "active", "2020-07-30"),
    (4, "Cassini", "NASA/ESA/ASI", "Saturn", "completed", "1997-10-15"),
    (5, "Rosetta", "ESA", "Comet 67P", "completed", "2004-03-02"),
    (6, "Juno", "NASA", "Jupiter", "active", "2011-08-05"),
    (7, "Euclid", "ESA", "Sun-Earth L2", "active", "2023-07-01"),
    (8, "Europa Clipper", "NASA", "Europa", "active", "2024-10-14"),
]

_SUBJECTS = [
    "Pillars of Creation",
    "Carina Nebula",
    "Jezero delta",
    "Saturn's rings",
    "Comet nucleus",
    "Great Red Spot",
    "Deep field",
    "Europa surface",
]


Rows = list[tuple[str, list[tuple[object, ...]]]]


def app_rows(now: datetime) -> Rows:
    """Parameterised INSERTs for users, missions and 32 images, dated relative to ``now``."""
    users = [
        (email, name, plan, (now - timedelta(days=400 - 30 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        for i, (email, name, plan) in enumerate(USERS)
    ]
    images: list[tuple[object, ...]] = []
    for i in range(32):
        mission_id = i % len(MISSIONS) + 1
        width, height = (4096, 2160) if i % 3 else (2048, 2048)
        images.append(
            (
                mission_id,
                i % len(USERS) + 1,
                f"raw/{mission_id}/{i:04d}.jpg",
                1_200_000 + 37_517 * i,
                width,
                height,
                (now - timedelta(hours=7 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                f"{_SUBJECTS[mission_id - 1]} #{i + 1}",
            )
        )
    return [
        (
            "INSERT INTO users (email, display_name, plan, created_at) VALUES (?, ?, ?, ?)",
            list(users),
        ),
        (
            "INSERT INTO missions (id, name, agency, target, status, launched_on) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            list(MISSIONS),
        ),
        (
            "INSERT INTO images "
            "(mission_id, user_id, r2_key, bytes, width, height, captured_at, caption) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            images,
        ),
    ]


ANALYTICS_SCHEMA = [
    """CREATE TABLE page_views (
        day TEXT NOT NULL,
        path TEXT NOT NULL,
        views INTEGER NOT NULL,
        PRIMARY KEY (day, path)
    )""",
    "CREATE TABLE signups (day TEXT PRIMARY KEY, count INTEGER NOT NULL)",
]


def analytics_rows(now: datetime) -> Rows:
    """A week of page views and signups ending at ``now``."""
    views: list[tuple[object, ...]] = []
    signups: list[tuple[object, ...]] = []
    for back in range(7):
        day = (now - timedelta(days=back)).strftime("%Y-%m-%d")
        for j, path in enumerate(("/", "/gallery", "/missions", "/upload")):
            views.append((day, path, 1200 - 90 * back - 150 * j))
        signups.append((day, 14 + 3 * back))
    return [
        ("INSERT INTO page_views (day, path, views) VALUES (?, ?, ?)", views),
        ("INSERT INTO signups (day, count) VALUES (?, ?)", signups),
    ]


def seed_time(ts: float) -> datetime:
    """``ts`` as an aware datetime."""
    return datetime.fromtimestamp(ts, UTC)
