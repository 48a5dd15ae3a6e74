"""A model of a sign-in's writes in Python's SQLite, to weigh group commit.

Each sign-in spends its state in a commit of its own (as the server does), then saves its
connection, its session and the session's sight of the connection; N saves share one commit
(each in a savepoint of its own when N > 1). The tables are the server's own: a release build
of tokenbridge is started once in a scratch directory and its database read. The log is copied
back every 400 sign-ins. Prints CPU time per sign-in (Python's own share included) and
write-ahead-log frames per sign-in.

Usage: python3 bench/models/group_commit.py 1 4 8
(from the checkout, after a release build; TOKENBRIDGE_BIN names another binary than
target/release/tokenbridge; the databases go under $TMPDIR)
"""
import os, resource, secrets, sqlite3, subprocess, sys, tempfile, time


def server_schema(binary):
    """The tables as the server makes them (its migrations, then the keyed rebuild), read
    from a database a tokenbridge started in a scratch directory has just made."""
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, TOKENBRIDGE_DATA_DIR=data, TOKENBRIDGE_LISTEN='127.0.0.1:0',
                   TOKENBRIDGE_DATABASE_URL=f'sqlite://{data}/tokenbridge.db')
        server = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    db = sqlite3.connect(f'file:{data}/tokenbridge.db?mode=ro', uri=True)
                    sql = [r[0] for r in db.execute(
                        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE '_sqlx%'")]
                    db.close()
                    # Made and rebuilt: the last table the rebuild makes is there without rowids.
                    if any('session_connections' in q and 'WITHOUT ROWID' in q for q in sql):
                        return ';\n'.join(sql) + ';'
                except sqlite3.Error:
                    pass
                time.sleep(0.1)
            sys.exit(f'{binary} made no database within 30 s')
        finally:
            server.terminate()
            server.wait()

def run(schema, n_per_commit, total=6000):
    path = os.path.join(tempfile.gettempdir(), f'tokenbridge-model-{n_per_commit}.db')
    for s in ('', '-wal', '-shm'):
        try: os.remove(path + s)
        except FileNotFoundError: pass
    c = sqlite3.connect(path, isolation_level=None)
    c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA synchronous=NORMAL'); c.execute('PRAGMA foreign_keys=ON')
    c.executescript(schema)
    c.execute('PRAGMA wal_autocheckpoint=0')
    cols = "id, provider, account_id, login, access_token, refresh_token, token_type, expires_at, scope, status, device_id, device_name, created_at, refreshed_at, touched_ns"
    save = f"INSERT INTO connections ({cols}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (provider, account_id) DO UPDATE SET access_token = excluded.access_token, refresh_token = excluded.refresh_token, token_type = excluded.token_type, expires_at = excluded.expires_at, scope = excluded.scope, status = excluded.status, device_id = excluded.device_id, device_name = excluded.device_name, refreshed_at = excluded.created_at, touched_ns = excluded.touched_ns RETURNING id, login, created_at, refreshed_at, touched_ns"
    r0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.perf_counter()
    wal_frames = 0
    i = 0
    while i < total:
        # the spent state: its own commit per sign-in, as today (security), then the saves grouped
        for k in range(n_per_commit):
            c.execute('INSERT INTO spent_states VALUES (?, ?) ON CONFLICT DO NOTHING', (secrets.token_hex(32), 2_000_000_000))
        c.execute('BEGIN IMMEDIATE')
        for k in range(n_per_commit):
            if n_per_commit > 1: c.execute(f'SAVEPOINT s')
            cid = secrets.token_hex(16); acc = str(i + k)
            c.execute(save, (cid, 'yandex', acc, 'user-' + acc, secrets.token_urlsafe(60), secrets.token_urlsafe(60), 'bearer', 2_000_000_000, None, 'active', None, None, 1_700_000_000, None, time.time_ns())).fetchall()
            sh = secrets.token_hex(32)
            c.execute('INSERT INTO sessions (id_hash, created_at, seen_at) VALUES (?, ?, ?)', (sh, 1_700_000_000, 1_700_000_000))
            c.execute('INSERT INTO session_connections (session_hash, connection_id) VALUES (?, ?) ON CONFLICT DO NOTHING', (sh, cid))
            if n_per_commit > 1: c.execute('RELEASE s')
        c.execute('COMMIT')
        i += n_per_commit
        if i % 400 < n_per_commit:
            wal_frames += c.execute('PRAGMA wal_checkpoint(PASSIVE)').fetchone()[1]
    r1 = resource.getrusage(resource.RUSAGE_SELF); t1 = time.perf_counter()
    wal_frames += c.execute('PRAGMA wal_checkpoint(PASSIVE)').fetchone()[1]
    u = (r1.ru_utime - r0.ru_utime) / total * 1e6; s = (r1.ru_stime - r0.ru_stime) / total * 1e6
    c.close()
    for suffix in ('', '-wal', '-shm'):
        try: os.remove(path + suffix)
        except FileNotFoundError: pass
    print(f"{n_per_commit} sign-ins a commit: {u+s:6.1f} µs CPU a sign-in ({u:.1f} user, {s:.1f} system), {wal_frames/total:.2f} log frames a sign-in")
binary = os.environ.get('TOKENBRIDGE_BIN', 'target/release/tokenbridge')
schema = server_schema(binary)
for n in [int(x) for x in sys.argv[1:]]:
    run(schema, n)
