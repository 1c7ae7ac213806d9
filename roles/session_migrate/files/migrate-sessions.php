<?php
// Session migration of role session_migrate: copies an app's live session
// files (PHP's "files" handler / Phalcon's Stream adapter: DIR/sess_<id>)
// into the Redis or PostgreSQL store its rendered session config
// (php_session_app) names, with the app's own store credentials.
//
//   php migrate-sessions.php CONFIG DIR [--check]
//
// Run as the app's pool user (it owns DIR and may read CONFIG). Prints one
// JSON line of counts, never a session id or a secret. Per file:
// - not a session (name is not sess_<id>, not a regular file): skipped;
// - expired (mtime + idle timeout <= now): skipped;
// - never copied (not in the manifest): created only if absent
//   (Redis SET NX PXAT mtime+idle; PostgreSQL INSERT .. ON CONFLICT DO
//   NOTHING, created_at = modified_at = mtime: the file's mtime is all there
//   is, the real creation time is unknown);
// - copied before: the store copy is replaced only while it still holds
//   exactly what this script wrote (compare-and-set on the data hash: an
//   app writing after the switch always wins); a store copy the app has
//   deleted (logout, regenerated id, expiry) is never recreated;
// - a copied session whose file is gone (ended on files before the switch)
//   is deleted from the store, again only if it still holds our copy.
// The manifest (DIR/.kit-migrate-<adapter>.json, 0600: id -> sha256 of the
// data copied) makes every pass idempotent and resumable: a re-run copies
// nothing that has not changed. --check counts without writing anything.
declare(strict_types=1);

const MANIFEST_PREFIX = '.kit-migrate-';
const SESSION_FILE = '/\Asess_([A-Za-z0-9,-]{22,256})\z/';

interface Store
{
    /** Create the session if absent; false when it exists. */
    public function create(string $id, string $data, int $mtime): bool;

    /** The stored data, or null when there is no such session. */
    public function current(string $id): ?string;

    /** Replace the data if the store still holds data hashing to $expected. */
    public function replace(string $id, string $data, int $mtime, string $expected): bool;

    /** Delete the session if the store still holds data hashing to $expected. */
    public function remove(string $id, string $expected): bool;
}

final class RedisStore implements Store
{
    private Redis $redis;
    private string $prefix;

    public function __construct(array $options, private readonly int $idle)
    {
        $this->prefix = (string) $options['prefix'];
        $this->redis = new Redis();
        $this->redis->connect('tls://' . $options['host'], (int) $options['port'], (float) $options['timeout'], null, 0,
                              (float) $options['timeout'], ['stream' => $options['ssl']]);
        if (!$this->redis->auth([$options['auth'][0], $options['auth'][1]])) {
            throw new RuntimeException('Redis refused the app user');
        }
    }

    private function expiresAtMs(int $mtime): string
    {
        return (string) (($mtime + $this->idle) * 1000);
    }

    public function create(string $id, string $data, int $mtime): bool
    {
        $reply = $this->redis->rawCommand('SET', $this->prefix . $id, $data, 'PXAT', $this->expiresAtMs($mtime), 'NX');
        return $reply === true || $reply === 'OK';
    }

    public function current(string $id): ?string
    {
        $value = $this->redis->get($this->prefix . $id);
        return is_string($value) ? $value : null;
    }

    public function replace(string $id, string $data, int $mtime, string $expected): bool
    {
        // SET .. XX GET swaps atomically and returns what it replaced: if the
        // app wrote in between (hash differs), put the app's data back.
        $old = $this->redis->rawCommand('SET', $this->prefix . $id, $data, 'PXAT', $this->expiresAtMs($mtime), 'XX', 'GET');
        if (!is_string($old)) {
            return false;
        }
        if (hash('sha256', $old) !== $expected) {
            $this->redis->rawCommand('SET', $this->prefix . $id, $old, 'PX', (string) ($this->idle * 1000), 'XX');
            return false;
        }
        return true;
    }

    public function remove(string $id, string $expected): bool
    {
        // No EVAL for the app user: compare, then delete (a write racing
        // this is a request for a session its user already ended).
        $value = $this->current($id);
        if ($value === null || hash('sha256', $value) !== $expected) {
            return false;
        }
        return $this->redis->del($this->prefix . $id) === 1;
    }
}

final class PostgresqlStore implements Store
{
    private PDO $db;
    private string $table;

    public function __construct(array $config)
    {
        require_once $config['handler']['file'];
        $db = $config['db'];
        $db['persistent'] = false;
        $this->db = \SessionKit\PdoSessionHandler::connect($db);
        $this->table = \SessionKit\PdoSessionHandler::quoteIdentifier((string) $config['options']['table']);
    }

    private function run(string $sql, array $params): PDOStatement
    {
        $stmt = $this->db->prepare(sprintf($sql, $this->table));
        foreach ($params as $name => $value) {
            $stmt->bindValue($name, $value, $name === ':data' ? PDO::PARAM_LOB : (is_int($value) ? PDO::PARAM_INT : PDO::PARAM_STR));
        }
        $stmt->execute();
        return $stmt;
    }

    public function create(string $id, string $data, int $mtime): bool
    {
        return $this->run('INSERT INTO %s (session_id, data, created_at, modified_at) VALUES (:id, :data, :mtime, :mtime2) '
                          . 'ON CONFLICT (session_id) DO NOTHING',
                          [':id' => $id, ':data' => $data, ':mtime' => $mtime, ':mtime2' => $mtime])->rowCount() === 1;
    }

    public function current(string $id): ?string
    {
        $row = $this->run('SELECT data FROM %s WHERE session_id = :id', [':id' => $id])->fetch(PDO::FETCH_NUM);
        if ($row === false) {
            return null;
        }
        $data = is_resource($row[0]) ? stream_get_contents($row[0]) : $row[0];
        return (string) $data;
    }

    public function replace(string $id, string $data, int $mtime, string $expected): bool
    {
        return $this->run('UPDATE %s SET data = :data, modified_at = :mtime WHERE session_id = :id '
                          . "AND encode(sha256(data), 'hex') = :expected",
                          [':data' => $data, ':mtime' => $mtime, ':id' => $id, ':expected' => $expected])->rowCount() === 1;
    }

    public function remove(string $id, string $expected): bool
    {
        return $this->run("DELETE FROM %s WHERE session_id = :id AND encode(sha256(data), 'hex') = :expected",
                          [':id' => $id, ':expected' => $expected])->rowCount() === 1;
    }
}

/** @return array{0: string, 1: int}|null the file's data and mtime, read under a shared lock */
function read_session_file(string $path): ?array
{
    $handle = @fopen($path, 'rb');
    if ($handle === false) {
        return null;
    }
    try {
        if (!flock($handle, LOCK_SH)) {
            return null;
        }
        clearstatcache(true, $path);
        $data = stream_get_contents($handle);
        $stat = fstat($handle);
        return $data === false || $stat === false ? null : [$data, (int) $stat['mtime']];
    } finally {
        fclose($handle);
    }
}

function save_manifest(string $path, array $entries): void
{
    $tmp = $path . '.tmp';
    $old = umask(0077);
    try {
        if (file_put_contents($tmp, json_encode(['version' => 1, 'entries' => $entries], JSON_UNESCAPED_SLASHES)) === false
            || !chmod($tmp, 0600) || !rename($tmp, $path)) {
            throw new RuntimeException('cannot write the manifest');
        }
    } finally {
        umask($old);
    }
}

function main(array $argv): int
{
    $check = in_array('--check', $argv, true);
    $args = array_values(array_filter(array_slice($argv, 1), static fn (string $a): bool => $a !== '--check'));
    if (count($args) !== 2) {
        fwrite(STDERR, "usage: migrate-sessions.php CONFIG DIR [--check]\n");
        return 2;
    }
    [$configFile, $dir] = $args;
    $config = require $configFile;
    $adapter = (string) $config['adapter'];
    $idle = (int) $config['idleTimeout'];
    $counts = ['copied' => 0, 'updated' => 0, 'unchanged' => 0, 'removed' => 0, 'skipped_expired' => 0,
               'skipped_not_session' => 0, 'skipped_store_newer' => 0, 'skipped_gone_from_store' => 0, 'failed' => 0];
    $summary = ['app' => (string) $config['app'], 'store' => (string) $config['store'], 'check' => $check];
    if (!is_dir($dir)) {
        echo json_encode($summary + $counts + ['note' => 'no session directory'], JSON_UNESCAPED_SLASHES), "\n";
        return 0;
    }
    $store = match ($adapter) {
        'redis' => new RedisStore($config['options'], $idle),
        'database' => new PostgresqlStore($config),
        default => throw new RuntimeException('the config names no Redis or PostgreSQL store'),
    };
    $manifestFile = $dir . '/' . MANIFEST_PREFIX . $adapter . '.json';
    $manifest = is_file($manifestFile) ? (json_decode((string) file_get_contents($manifestFile), true)['entries'] ?? []) : [];
    $seen = [];
    $now = time();
    foreach (scandir($dir) ?: [] as $name) {
        if ($name === '.' || $name === '..' || str_starts_with($name, MANIFEST_PREFIX)) {
            continue;
        }
        $path = $dir . '/' . $name;
        if (!preg_match(SESSION_FILE, $name, $m) || is_link($path) || !is_file($path)) {
            $counts['skipped_not_session']++;
            continue;
        }
        $id = $m[1];
        try {
            $file = read_session_file($path);
            if ($file === null) {
                $counts['failed']++;
                continue;
            }
            [$data, $mtime] = $file;
            if ($mtime + $idle <= $now) {
                $counts['skipped_expired']++;
                continue;
            }
            $seen[$id] = true;
            $hash = hash('sha256', $data);
            $copied = $manifest[$id] ?? null;
            if ($copied === null) {
                if ($check ? $store->current($id) === null : $store->create($id, $data, $mtime)) {
                    $counts['copied']++;
                    $manifest[$id] = $hash;
                } elseif ($store->current($id) === $data) {
                    $counts['unchanged']++;
                    $manifest[$id] = $hash;
                } else {
                    $counts['skipped_store_newer']++;
                }
                continue;
            }
            $current = $store->current($id);
            if ($current === null) {
                // The app ended it after the switch: never bring it back.
                $counts['skipped_gone_from_store']++;
            } elseif ($current === $data) {
                $counts['unchanged']++;
                $manifest[$id] = $hash;
            } elseif (hash('sha256', $current) === $copied
                      && ($check || $store->replace($id, $data, $mtime, $copied))) {
                // Changed on files after our copy, not touched by the app since.
                $counts['updated']++;
                $manifest[$id] = $hash;
            } else {
                $counts['skipped_store_newer']++;
            }
        } catch (Throwable $e) {
            $counts['failed']++;
            fwrite(STDERR, $name === '' ? '' : 'session file failed: ' . get_class($e) . "\n");
        }
    }
    // Copied sessions whose file is gone (logout or expiry before the switch).
    foreach ($manifest as $id => $copied) {
        if (isset($seen[$id]) || is_file($dir . '/sess_' . $id)) {
            continue;
        }
        try {
            if ($check ? $store->current($id) !== null : $store->remove((string) $id, $copied)) {
                $counts['removed']++;
            }
            if (!$check) {
                unset($manifest[$id]);
            }
        } catch (Throwable $e) {
            $counts['failed']++;
        }
    }
    if (!$check) {
        save_manifest($manifestFile, $manifest);
    }
    echo json_encode($summary + $counts, JSON_UNESCAPED_SLASHES), "\n";
    return $counts['failed'] > 0 ? 1 : 0;
}

try {
    exit(main($argv));
} catch (Throwable $e) {
    // The class and message only: PDO and phpredis messages name host and
    // user, never the password.
    fwrite(STDERR, 'migration failed: ' . get_class($e) . ': ' . $e->getMessage() . "\n");
    exit(1);
}
