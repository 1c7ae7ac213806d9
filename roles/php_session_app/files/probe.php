<?php
// Live session probe of role php_session_app (turn off with
// php_session_app_probe_enabled: false). It reads the app's rendered session
// config (SESSION_APP_CONFIG) and uses the store through PHP's native
// handler with exactly those settings:
//   redis      - phpredis' "redis" save handler;
//   postgresql - a minimal handler issuing the Phalcon incubator Database
//                adapter's SQL (plus validateId, see below);
//   files      - PHP's "files" handler.
//
//   GET  /probe/session -> {"id": "<session id>", "count": n}
//   POST /probe/login   -> session_regenerate_id(true), {"id": "<new id>"}
declare(strict_types=1);

/**
 * The incubator Database adapter's statements. PHP only honours
 * session.use_strict_mode for handlers that implement validateId(): the
 * incubator adapter does not, so the probe adds it (same SELECT as read())
 * and an updateTimestamp() for lazy_write. Apps must do the same (README).
 */
final class ProbeDatabaseHandler implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface
{
    private bool $started = false;

    public function __construct(private readonly PDO $db, private readonly string $table)
    {
    }

    public function open(string $path, string $name): bool
    {
        $this->started = true;
        return true;
    }

    public function close(): bool
    {
        $this->started = false;
        return true;
    }

    public function read(string $id): string|false
    {
        if (!$this->started) {
            return '';
        }
        $row = $this->fetchLive($id);
        return $row === false ? '' : (string) $row[0];
    }

    public function write(string $id, string $data): bool
    {
        $count = $this->db->prepare(sprintf('SELECT COUNT(*) FROM %s WHERE session_id = ?', $this->table));
        $count->execute([$id]);
        if ((int) $count->fetchColumn() > 0) {
            return $this->db->prepare(sprintf('UPDATE %s SET data = ?, modified_at = ? WHERE session_id = ?', $this->table))
                ->execute([$data, time(), $id]);
        }
        if (!$this->started) {
            return false;
        }
        return $this->db->prepare(sprintf(
            'INSERT INTO %s (session_id, data, created_at, modified_at) VALUES (?, ?, ?, NULL)',
            $this->table
        ))->execute([$id, $data, time()]);
    }

    public function destroy(string $id): bool
    {
        if (!$this->started) {
            return true;
        }
        $this->started = false;
        return $this->db->prepare(sprintf('DELETE FROM %s WHERE session_id = ?', $this->table))->execute([$id]);
    }

    public function gc(int $max_lifetime): int|false
    {
        $stmt = $this->db->prepare(sprintf(
            'DELETE FROM %s WHERE COALESCE(modified_at, created_at) + %d < ?',
            $this->table,
            $max_lifetime
        ));
        return $stmt->execute([time()]) ? $stmt->rowCount() : false;
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

function probe_reply(int $status, array $body): never
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($body, JSON_UNESCAPED_SLASHES), "\n";
    exit;
}

/** "schema.table" quoted like Phalcon's Dialect::escape(). */
function probe_quote_identifier(string $name): string
{
    return implode('.', array_map(static fn (string $p): string => '"' . str_replace('"', '""', $p) . '"', explode('.', $name)));
}

function probe_use_store(array $config): void
{
    $options = $config['options'];
    switch ($config['adapter']) {
        case 'redis':
            $query = [
                'auth' => ['user' => $options['auth'][0], 'pass' => $options['auth'][1]],
                'prefix' => $options['prefix'],
                'timeout' => $options['timeout'],
                'read_timeout' => $options['timeout'],
                'persistent' => $options['persistent'] ? 1 : 0,
                'stream' => array_map(static fn ($v) => is_bool($v) ? (int) $v : $v, $options['ssl']),
            ];
            ini_set('session.save_handler', 'redis');
            ini_set('session.save_path', sprintf('tls://%s:%d?%s', $options['host'], $options['port'], http_build_query($query)));
            return;
        case 'database':
            $db = $config['db'];
            $dsn = ['host' => $db['host'], 'port' => $db['port'], 'dbname' => $db['dbname'], 'sslmode' => $db['sslmode'],
                    'sslrootcert' => $db['sslrootcert'], 'connect_timeout' => $db['connect_timeout'],
                    'application_name' => $db['application_name']];
            foreach (['sslcert', 'sslkey'] as $key) {
                if (isset($db[$key])) {
                    $dsn[$key] = $db[$key];
                }
            }
            $pdo = new PDO(
                'pgsql:' . implode(';', array_map(static fn ($k, $v) => "$k=$v", array_keys($dsn), $dsn)),
                $db['username'],
                $db['password'],
                [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]
            );
            session_set_save_handler(new ProbeDatabaseHandler($pdo, probe_quote_identifier($config['options']['table'])), true);
            return;
        case 'stream':
            ini_set('session.save_handler', 'files');
            ini_set('session.save_path', $options['savePath']);
            return;
    }
    probe_reply(500, ['error' => 'unknown adapter']);
}

$config = require getenv('SESSION_APP_CONFIG');

// The app cannot weaken the enforced settings: these must all fail (the
// suite sees Secure, HttpOnly, SameSite and strict mode in force anyway).
foreach (['session.use_strict_mode' => '0', 'session.cookie_secure' => '0', 'session.cookie_httponly' => '0',
          'session.cookie_samesite' => 'None', 'session.cookie_lifetime' => '86400', 'session.gc_maxlifetime' => '86400',
          'session.use_only_cookies' => '0', 'session.name' => 'PHPSESSID'] as $setting => $weaker) {
    @ini_set($setting, $weaker);
}

try {
    probe_use_store($config);
    $path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
    $method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
    if ($path === '/probe/session' && $method === 'GET') {
        session_start();
        if (isset($_SESSION['created']) && time() - $_SESSION['created'] > $config['absoluteTimeout']) {
            // Absolute timeout: a new session, the old one destroyed.
            $_SESSION = [];
            session_regenerate_id(true);
        }
        $_SESSION['created'] ??= time();
        $_SESSION['count'] = ($_SESSION['count'] ?? 0) + 1;
        probe_reply(200, ['id' => session_id(), 'count' => $_SESSION['count']]);
    }
    if ($path === '/probe/login' && $method === 'POST') {
        session_start();
        session_regenerate_id(true);
        $_SESSION['created'] = time();
        $_SESSION['user'] = 'probe';
        probe_reply(200, ['id' => session_id()]);
    }
    probe_reply(404, ['error' => 'not found']);
} catch (Throwable $e) {
    error_log('session probe: ' . $e->getMessage());
    probe_reply(500, ['error' => 'store unavailable']);
}
