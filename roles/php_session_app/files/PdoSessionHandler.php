<?php
// PostgreSQL session save handler shipped by role php_session_app
// (installed to /usr/local/share/php-session-app/PdoSessionHandler.php).
//
// Same table and columns as Phalcon's incubator Database adapter
// (session_id, data, created_at, modified_at), but:
//   - binary-safe: data is bytea, bound as PDO::PARAM_LOB (binary format) and
//     read back from the stream pdo_pgsql returns, so serialize() output
//     with NUL bytes (private/protected properties) survives;
//   - no emulated prepares: ids and data travel as bind parameters, never in
//     the SQL text (and so never in a logged statement). Statements are sent
//     with their parameters in one round trip (PQexecParams,
//     PGSQL_ATTR_DISABLE_PREPARES) and reused within the request;
//   - validateId(): PHP honours session.use_strict_mode only for handlers
//     that implement it; the incubator adapter does not, so it would adopt
//     attacker-chosen ids;
//   - idle AND absolute timeout: a row idle longer than idleTimeout or
//     created longer than absoluteTimeout ago is gone;
//   - a destroyed or regenerated-away session never comes back: only an id
//     this request did not find live (a new id: create_sid, regenerate,
//     strict mode) is INSERTed (ON CONFLICT DO NOTHING: never over another
//     row); a session read live in this request is UPDATEd by id, so a
//     request in flight across another request's session_destroy() or
//     session_regenerate_id(true) writes nothing once the row is gone; an
//     id destroyed in this request is never written again;
//   - one clock: every timestamp written (created_at, modified_at) and every
//     expiry cutoff read is the database's now() (epoch seconds, as the
//     store's GC timer compares them), never the app host's time();
//     read() reuses the row validateId() has just fetched;
//   - updateTimestamp() (lazy_write) touches modified_at only;
//   - a lost connection (SQLSTATE class 08, 57P01-57P03 admin/crash
//     shutdown, 25006 a demoted primary, HY000 libpq without a SQLSTATE) is
//     reopened ONCE and the statement run again: with a multi-host DSN
//     (target_session_attrs=read-write) the new connection finds the new
//     primary after a failover. Each statement is one autocommit statement,
//     so running it again is safe (insert-if-absent, update and delete by id
//     are idempotent). The reopened connection is always a new one, never
//     the persistent handle again: PDO hands a persistent handle back as
//     long as libpq calls it alive, and a handle that is alive but unusable
//     (a session left read-only, a protocol state out of step) would fail
//     the retry and every later request of its FPM worker. Such a handle is
//     ended (its own backend terminated, best effort) so that the worker's
//     next request opens its persistent connection anew.
// created_at: a new row (new session, or session_regenerate_id() / a new id
// after session_destroy() in the same request) inherits the created_at of
// the session this handler read in the request, so regenerating never
// extends the absolute timeout; a request without a live session starts a
// fresh created_at. Create one handler per request (as fromConfig() does).
// Phalcon: $manager->setAdapter(SessionKit\PdoSessionHandler::fromConfig($config));
declare(strict_types=1);

namespace SessionKit;

use PDO;
use PDOStatement;
use SessionHandlerInterface;
use SessionUpdateTimestampHandlerInterface;

final class PdoSessionHandler implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface
{
    private const DSN_KEYS = ['host', 'port', 'dbname', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey',
                              'connect_timeout', 'application_name', 'target_session_attrs', 'tcp_user_timeout',
                              'keepalives_idle', 'keepalives_interval', 'keepalives_count'];

    /** SQLSTATEs (or classes, 2 characters) after which the connection is reopened once. */
    private const RECONNECT_STATES = ['08', '57P01', '57P02', '57P03', '25006', 'HY000'];

    /** The database's clock in epoch seconds (the only clock of expiry; the GC timer uses it too). */
    private const NOW = 'CAST(extract(epoch FROM now()) AS bigint)';

    /** "No absolute timeout": a span no row is older than (now - it stays inside bigint). */
    private const NO_LIMIT = 1 << 62;

    private readonly string $table;

    /** @var array{0: string, 1: string|false}|null the row validateId() fetched last */
    private ?array $checked = null;

    /** created_at of the live session read in this request (inherited by new rows) */
    private ?int $createdAt = null;

    /** @var array<string, true> ids read live in this request: written by UPDATE only */
    private array $live = [];

    /** @var array<string, true> ids destroyed in this request: never written again */
    private array $destroyed = [];

    /** Writes of this request that found their row gone (destroyed meanwhile; for tests and logs). */
    public int $lostWrites = 0;

    /** @var array<string, PDOStatement> statements of this request, by SQL */
    private array $statements = [];

    /**
     * @param int $absoluteTimeout seconds after created_at that a session is gone (0: no limit)
     */
    /** Reconnections done by this handler (0 or 1 per statement; for tests and logs). */
    public int $reconnects = 0;

    /**
     * @param \Closure(): PDO|null $reconnect opens a new connection (null: never reconnect)
     * @param bool $persistent $db is a persistent handle: ended before the reconnect
     */
    public function __construct(
        private PDO $db,
        string $table,
        private readonly int $idleTimeout,
        private readonly int $absoluteTimeout = 0,
        private readonly ?\Closure $reconnect = null,
        private bool $persistent = false,
    ) {
        $this->table = self::quoteIdentifier($table);
    }

    /** The handler for a session config rendered by the role (store postgresql). */
    public static function fromConfig(array $config): self
    {
        $db = $config['db'];
        // The reconnect opens a new connection (see the header), not the
        // persistent handle that has just failed.
        $fresh = ['persistent' => false] + $db;
        return new self(self::connect($db), $config['options']['table'], (int) $config['idleTimeout'],
                        (int) ($config['absoluteTimeout'] ?? 0), static fn (): PDO => self::connect($fresh),
                        (bool) ($db['persistent'] ?? false));
    }

    /** Whether $e says the connection is gone (or the server is no longer the primary). */
    public static function isConnectionLoss(\PDOException $e): bool
    {
        $state = (string) ($e->errorInfo[0] ?? $e->getCode());
        return in_array($state, self::RECONNECT_STATES, true)
            || in_array(substr($state, 0, 2), self::RECONNECT_STATES, true);
    }

    /** A PDO connection from the config's 'db' descriptor (the keys of Phalcon's Pdo\Postgresql). */
    public static function connect(array $db): PDO
    {
        $dsn = [];
        foreach (self::DSN_KEYS as $key) {
            if (isset($db[$key]) && $db[$key] !== '') {
                $dsn[] = $key . '=' . $db[$key];
            }
        }
        $pdo = new PDO('pgsql:' . implode(';', $dsn), $db['username'], $db['password'], [
            PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
            PDO::ATTR_PERSISTENT => (bool) ($db['persistent'] ?? false),
            PDO::ATTR_EMULATE_PREPARES => false,
        ]);
        // A persistent handle keeps the attributes of whoever opened it.
        $pdo->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
        $pdo->setAttribute(PDO::ATTR_EMULATE_PREPARES, false);
        return $pdo;
    }

    /** "schema.table" quoted like Phalcon's Dialect::escape(). */
    public static function quoteIdentifier(string $name): string
    {
        return implode('.', array_map(
            static fn (string $part): string => '"' . str_replace('"', '""', $part) . '"',
            explode('.', $name)
        ));
    }

    public function open(string $path, string $name): bool
    {
        $this->checked = null;
        return true;
    }

    public function close(): bool
    {
        $this->checked = null;
        return true;
    }

    public function validateId(string $id): bool
    {
        $this->checked = [$id, $this->fetchLive($id)];
        return $this->checked[1] !== false;
    }

    /** Also records whether the row existed: write() UPDATEs a session read live, INSERTs only a new id. */
    public function read(string $id): string|false
    {
        $data = $this->checked !== null && $this->checked[0] === $id ? $this->checked[1] : $this->fetchLive($id);
        $this->checked = null;
        if ($data === false) {
            unset($this->live[$id]);
            return '';
        }
        $this->live[$id] = true;
        return $data;
    }

    public function write(string $id, string $data): bool
    {
        if (isset($this->destroyed[$id])) {
            return true;
        }
        if (isset($this->live[$id])) {
            // Read live in this request: only ever an UPDATE. A row deleted
            // meanwhile (logout, regenerate_id(true), GC) stays deleted.
            $stmt = $this->run(
                'UPDATE %s SET data = :data, modified_at = ' . self::NOW . ' WHERE session_id = :id',
                [':data' => [$data, PDO::PARAM_LOB], ':id' => [$id, PDO::PARAM_STR]]
            );
            if ($stmt->rowCount() === 0) {
                unset($this->live[$id]);
                $this->lostWrites++;
            }
            return true;
        }
        // A new id. It inherits created_at (see the header); a request
        // without a live session starts the database's now(). An existing
        // row is never overwritten (a collision, or an id that was never
        // read: nothing of this request belongs in it).
        $created = $this->createdAt;
        $stmt = $this->run(
            'INSERT INTO %s (session_id, data, created_at, modified_at) '
            . 'VALUES (:id, :data, COALESCE(CAST(:created AS bigint), ' . self::NOW . '), NULL) '
            . 'ON CONFLICT (session_id) DO NOTHING',
            [':id' => [$id, PDO::PARAM_STR], ':data' => [$data, PDO::PARAM_LOB],
             ':created' => [$created, $created === null ? PDO::PARAM_NULL : PDO::PARAM_INT]]
        );
        if ($stmt->rowCount() === 1) {
            $this->live[$id] = true;
        }
        return true;
    }

    public function updateTimestamp(string $id, string $data): bool
    {
        if (isset($this->destroyed[$id])) {
            return true;
        }
        $this->run('UPDATE %s SET modified_at = ' . self::NOW . ' WHERE session_id = :id',
                   [':id' => [$id, PDO::PARAM_STR]]);
        return true;
    }

    public function destroy(string $id): bool
    {
        $this->checked = null;
        unset($this->live[$id]);
        $this->destroyed[$id] = true;
        $this->run('DELETE FROM %s WHERE session_id = :id', [':id' => [$id, PDO::PARAM_STR]]);
        return true;
    }

    public function gc(int $max_lifetime): int|false
    {
        $stmt = $this->run(
            'DELETE FROM %s WHERE COALESCE(modified_at, created_at) < ' . self::NOW . ' - CAST(:idle AS bigint) '
            . 'OR created_at < ' . self::NOW . ' - CAST(:absolute AS bigint)',
            [':idle' => [$this->idleTimeout, PDO::PARAM_INT], ':absolute' => [$this->absoluteSeconds(), PDO::PARAM_INT]]
        );
        return $stmt->rowCount();
    }

    /** The absolute timeout in seconds; "no limit" (0) as a span no row can be older than. */
    private function absoluteSeconds(): int
    {
        return $this->absoluteTimeout > 0 ? $this->absoluteTimeout : self::NO_LIMIT;
    }

    /**
     * The data of the session if it is live: not idle longer than the idle
     * timeout, not created longer than the absolute timeout ago.
     */
    private function fetchLive(string $id): string|false
    {
        $stmt = $this->run(
            'SELECT data, created_at FROM %s WHERE session_id = :id '
            . 'AND COALESCE(modified_at, created_at) >= ' . self::NOW . ' - CAST(:idle AS bigint) '
            . 'AND created_at >= ' . self::NOW . ' - CAST(:absolute AS bigint)',
            [':id' => [$id, PDO::PARAM_STR], ':idle' => [$this->idleTimeout, PDO::PARAM_INT],
             ':absolute' => [$this->absoluteSeconds(), PDO::PARAM_INT]]
        );
        $row = $stmt->fetch(PDO::FETCH_NUM);
        $stmt->closeCursor();
        if ($row === false) {
            return false;
        }
        $this->createdAt ??= (int) $row[1];
        // pdo_pgsql returns bytea as a stream (a string on some builds).
        $data = is_resource($row[0]) ? stream_get_contents($row[0]) : $row[0];
        return $data === false || $data === null ? '' : (string) $data;
    }

    /**
     * Prepare (once per connection), bind and execute $sql; on a lost
     * connection reopen it once and run the statement again. A second loss,
     * or any other error, is thrown.
     *
     * @param array<string, array{0: mixed, 1: int}> $params name => [value, PDO::PARAM_*]
     */
    private function run(string $sql, array $params): PDOStatement
    {
        try {
            return $this->bindAndExecute($sql, $params);
        } catch (\PDOException $e) {
            if ($this->reconnect === null || !self::isConnectionLoss($e)) {
                throw $e;
            }
        }
        $this->statements = [];
        if ($this->persistent) {
            self::endBackend($this->db, $e);
            $this->persistent = false;
        }
        $this->db = ($this->reconnect)();
        $this->reconnects++;
        return $this->bindAndExecute($sql, $params);
    }

    /**
     * End the backend of a persistent handle that failed (best effort): on a
     * handle that is still alive, the worker's next request would get it
     * back as it is; terminated, PDO's liveness check reopens it. The
     * failure goes to the error log: an operator sees each ended handle.
     */
    private static function endBackend(PDO $db, \PDOException $cause): void
    {
        error_log(sprintf('SessionKit\\PdoSessionHandler: persistent connection failed (%s); '
                          . 'ending it, retrying on a new connection', $cause->getMessage()));
        try {
            $db->query('SELECT pg_terminate_backend(pg_backend_pid())');
        } catch (\PDOException) {
            // Expected: the backend ends while answering, or the handle is already dead.
        }
    }

    /** @param array<string, array{0: mixed, 1: int}> $params */
    private function bindAndExecute(string $sql, array $params): PDOStatement
    {
        $stmt = $this->statement($sql);
        foreach ($params as $name => [$value, $type]) {
            $stmt->bindValue($name, $value, $type);
        }
        $stmt->execute();
        return $stmt;
    }

    /**
     * The statement for $sql (%s: the table), prepared once per request.
     * PGSQL_ATTR_DISABLE_PREPARES sends statement and parameters together
     * (PQexecParams): no extra Parse/Deallocate round trips, still no
     * parameter in the SQL text.
     */
    private function statement(string $sql): PDOStatement
    {
        return $this->statements[$sql] ??= $this->db->prepare(sprintf($sql, $this->table), [
            PDO::ATTR_EMULATE_PREPARES => false,
            PDO::PGSQL_ATTR_DISABLE_PREPARES => true,
        ]);
    }
}
