<?php
// `make bench`: one request = session start + read + write of ~2 KB.
// BENCH_STORE picks the handler: files / redis use PHP's native handlers as
// configured by the pool; pgsql uses, by BENCH_PG_HANDLER,
//   kit       - the kit's SessionKit\PdoSessionHandler
//               (roles/php_session_app/files/PdoSessionHandler.php, copied
//               next to this script), exactly as the role's apps use it;
//   incubator - the Phalcon incubator Database adapter's statements (read:
//               SELECT; write: SELECT COUNT, then UPDATE or INSERT), plus the
//               validateId() strict mode needs.
// BENCH_FRAMEWORK=phalcon runs the same request through Phalcon 5's
// Session\Manager, built by the kit's bootstrap (phalcon-session.php, as the
// role's apps use it) from a config shaped like the role's rendered
// session.php: Adapter\Redis (TLS, ACL, prefix, persistent, locking as set)
// or the kit's PDO handler via setAdapter().
declare(strict_types=1);

final class IncubatorSqlHandler implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface
{
    public function __construct(private readonly PDO $db, private readonly string $table)
    {
    }

    public function open(string $path, string $name): bool
    {
        return true;
    }

    public function close(): bool
    {
        return true;
    }

    public function read(string $id): string|false
    {
        $row = $this->fetchLive($id);
        // The session table's data column is bytea: pdo_pgsql returns a stream.
        return $row === false ? '' : (is_resource($row[0]) ? (string) stream_get_contents($row[0]) : (string) $row[0]);
    }

    public function write(string $id, string $data): bool
    {
        $count = $this->db->prepare(sprintf('SELECT COUNT(*) FROM %s WHERE session_id = ?', $this->table));
        $count->execute([$id]);
        if ((int) $count->fetchColumn() > 0) {
            return $this->db->prepare(sprintf('UPDATE %s SET data = ?, modified_at = ? WHERE session_id = ?', $this->table))
                ->execute([$data, time(), $id]);
        }
        return $this->db->prepare(sprintf(
            'INSERT INTO %s (session_id, data, created_at, modified_at) VALUES (?, ?, ?, NULL)',
            $this->table
        ))->execute([$id, $data, time()]);
    }

    public function destroy(string $id): bool
    {
        return $this->db->prepare(sprintf('DELETE FROM %s WHERE session_id = ?', $this->table))->execute([$id]);
    }

    public function gc(int $max_lifetime): int|false
    {
        return 0;
    }

    public function validateId(string $id): bool
    {
        return $this->fetchLive($id) !== false;
    }

    public function updateTimestamp(string $id, string $data): bool
    {
        return $this->write($id, $data);
    }

    /** @return array<int, mixed>|false */
    private function fetchLive(string $id): array|false
    {
        $stmt = $this->db->prepare(sprintf(
            'SELECT data FROM %s WHERE session_id = ? AND COALESCE(modified_at, created_at) + %d >= ?',
            $this->table,
            (int) ini_get('session.gc_maxlifetime')
        ));
        $stmt->execute([$id, time()]);
        return $stmt->fetch(PDO::FETCH_NUM);
    }
}

/** The role's rendered session config (templates/session.php.j2), from the pool's environment. */
function phalconConfig(): array
{
    $idle = (int) ini_get('session.gc_maxlifetime');
    $config = ['app' => 'bench', 'idleTimeout' => $idle, 'absoluteTimeout' => 0, 'manager' => ['uniqueId' => 'bench']];
    if (getenv('BENCH_STORE') === 'pgsql') {
        parse_str(str_replace(';', '&', substr((string) getenv('BENCH_PG_DSN'), strlen('pgsql:'))), $db);
        $db += ['username' => (string) getenv('BENCH_PG_USER'), 'password' => (string) getenv('BENCH_PG_PASSWORD'),
                'persistent' => getenv('BENCH_PG_PERSISTENT') === '1'];
        return $config + ['adapter' => 'database', 'db' => $db, 'options' => ['table' => (string) getenv('BENCH_PG_TABLE')],
                          'handler' => ['class' => 'SessionKit\\PdoSessionHandler', 'file' => __DIR__ . '/PdoSessionHandler.php']];
    }
    $cafile = (string) getenv('BENCH_CA');
    return $config + ['adapter' => 'redis', 'options' => [
        'host' => (string) getenv('BENCH_REDIS_HOST'), 'port' => 6379, 'index' => 0,
        'auth' => [(string) getenv('BENCH_REDIS_USER'), (string) getenv('BENCH_REDIS_PASSWORD')],
        'prefix' => (string) getenv('BENCH_REDIS_PREFIX'), 'lifetime' => $idle,
        'persistent' => getenv('BENCH_REDIS_PERSISTENT') === '1', 'lockingEnabled' => getenv('BENCH_REDIS_LOCKING') === '1',
        'timeout' => 2.5, 'ssl' => ['verify_peer' => true, 'verify_peer_name' => true, 'cafile' => $cafile],
    ]];
}

try {
    if (getenv('BENCH_STORE') === 'pgsql' && getenv('BENCH_FRAMEWORK') !== 'phalcon') {
        require_once __DIR__ . '/PdoSessionHandler.php';
        $table = (string) getenv('BENCH_PG_TABLE');
        $persistent = getenv('BENCH_PG_PERSISTENT') === '1';
        if (getenv('BENCH_PG_HANDLER') === 'kit') {
            // The descriptor keys of the role's rendered config ('db').
            parse_str(str_replace(';', '&', substr((string) getenv('BENCH_PG_DSN'), strlen('pgsql:'))), $db);
            $db += ['username' => (string) getenv('BENCH_PG_USER'), 'password' => (string) getenv('BENCH_PG_PASSWORD'),
                    'persistent' => $persistent];
            $pdo = SessionKit\PdoSessionHandler::connect($db);
            // BENCH_PG_SYNC: this session's synchronous_commit (the pair of variants that prices it
            // sends the same SET on every request).
            if ((string) getenv('BENCH_PG_SYNC') !== '') {
                $pdo->exec('SET synchronous_commit = ' . $pdo->quote((string) getenv('BENCH_PG_SYNC')));
            }
            $handler = new SessionKit\PdoSessionHandler($pdo, $table, (int) ini_get('session.gc_maxlifetime'));
        } else {
            $pdo = new PDO((string) getenv('BENCH_PG_DSN'), (string) getenv('BENCH_PG_USER'),
                           (string) getenv('BENCH_PG_PASSWORD'),
                           [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_PERSISTENT => $persistent]);
            $handler = new IncubatorSqlHandler($pdo, SessionKit\PdoSessionHandler::quoteIdentifier($table));
        }
        session_set_save_handler($handler, true);
    }
    if (getenv('BENCH_FRAMEWORK') === 'phalcon') {
        require_once __DIR__ . '/phalcon-session.php';
        $session = SessionKit\PhalconSession::start(phalconConfig());
        $previous = strlen((string) $session->get('blob', ''));
        $session->set('n', (int) $session->get('n', 0) + 1);
        if (!$session->has('created')) {
            $session->set('created', time());
        }
        $session->set('blob', bin2hex(random_bytes(1000)));
        $n = $session->get('n');
        session_write_close();
    } else {
        if (!session_start()) {
            throw new RuntimeException('session_start failed');
        }
        $previous = strlen($_SESSION['blob'] ?? '');
        $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
        $_SESSION['created'] ??= time();
        // ~2 KB of fresh data every request, so lazy_write always writes.
        $_SESSION['blob'] = bin2hex(random_bytes(1000));
        $n = $_SESSION['n'];
        session_write_close();
    }
    header('Content-Type: text/plain');
    echo $previous, ' ', $n, "\n";
} catch (Throwable $e) {
    error_log('bench: ' . $e->getMessage());
    http_response_code(500);
    echo "error\n";
}
