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
//   - one INSERT .. ON CONFLICT per write instead of SELECT COUNT + UPDATE or
//     INSERT, and read() reuses the row validateId() has just fetched;
//   - updateTimestamp() (lazy_write) touches modified_at only.
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
                              'connect_timeout', 'application_name'];

    private readonly string $table;

    /** @var array{0: string, 1: string|false}|null the row validateId() fetched last */
    private ?array $checked = null;

    /** created_at of the live session read in this request (inherited by new rows) */
    private ?int $createdAt = null;

    /** @var array<string, PDOStatement> statements of this request, by SQL */
    private array $statements = [];

    /**
     * @param int $absoluteTimeout seconds after created_at that a session is gone (0: no limit)
     */
    public function __construct(
        private readonly PDO $db,
        string $table,
        private readonly int $idleTimeout,
        private readonly int $absoluteTimeout = 0,
    ) {
        $this->table = self::quoteIdentifier($table);
    }

    /** The handler for a session config rendered by the role (store postgresql). */
    public static function fromConfig(array $config): self
    {
        return new self(self::connect($config['db']), $config['options']['table'], (int) $config['idleTimeout'],
                        (int) ($config['absoluteTimeout'] ?? 0));
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

    public function read(string $id): string|false
    {
        $data = $this->checked !== null && $this->checked[0] === $id ? $this->checked[1] : $this->fetchLive($id);
        $this->checked = null;
        return $data === false ? '' : $data;
    }

    public function write(string $id, string $data): bool
    {
        // A new row inherits created_at (see the header); an existing row keeps its own.
        $stmt = $this->statement(
            'INSERT INTO %s (session_id, data, created_at, modified_at) VALUES (:id, :data, :created, NULL) '
            . 'ON CONFLICT (session_id) DO UPDATE SET data = EXCLUDED.data, modified_at = :now'
        );
        $now = time();
        $stmt->bindValue(':id', $id, PDO::PARAM_STR);
        $stmt->bindValue(':data', $data, PDO::PARAM_LOB);
        $stmt->bindValue(':created', $this->createdAt ?? $now, PDO::PARAM_INT);
        $stmt->bindValue(':now', $now, PDO::PARAM_INT);
        return $stmt->execute();
    }

    public function updateTimestamp(string $id, string $data): bool
    {
        $stmt = $this->statement('UPDATE %s SET modified_at = :now WHERE session_id = :id');
        $stmt->bindValue(':now', time(), PDO::PARAM_INT);
        $stmt->bindValue(':id', $id, PDO::PARAM_STR);
        return $stmt->execute();
    }

    public function destroy(string $id): bool
    {
        $this->checked = null;
        $stmt = $this->statement('DELETE FROM %s WHERE session_id = :id');
        $stmt->bindValue(':id', $id, PDO::PARAM_STR);
        return $stmt->execute();
    }

    public function gc(int $max_lifetime): int|false
    {
        $now = time();
        $stmt = $this->statement('DELETE FROM %s WHERE COALESCE(modified_at, created_at) < :idle OR created_at < :absolute');
        $stmt->bindValue(':idle', $now - $this->idleTimeout, PDO::PARAM_INT);
        $stmt->bindValue(':absolute', $this->absoluteTimeout > 0 ? $now - $this->absoluteTimeout : PHP_INT_MIN,
                         PDO::PARAM_INT);
        return $stmt->execute() ? $stmt->rowCount() : false;
    }

    /**
     * The data of the session if it is live: not idle longer than the idle
     * timeout, not created longer than the absolute timeout ago.
     */
    private function fetchLive(string $id): string|false
    {
        $now = time();
        $stmt = $this->statement(
            'SELECT data, created_at FROM %s WHERE session_id = :id '
            . 'AND COALESCE(modified_at, created_at) >= :idle AND created_at >= :absolute'
        );
        $stmt->bindValue(':id', $id, PDO::PARAM_STR);
        $stmt->bindValue(':idle', $now - $this->idleTimeout, PDO::PARAM_INT);
        $stmt->bindValue(':absolute', $this->absoluteTimeout > 0 ? $now - $this->absoluteTimeout : PHP_INT_MIN,
                         PDO::PARAM_INT);
        $stmt->execute();
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
