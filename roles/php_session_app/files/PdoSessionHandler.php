<?php
// PostgreSQL session save handler shipped by role php_session_app
// (installed to /usr/local/share/php-session-app/PdoSessionHandler.php).
//
// Same table and columns as Phalcon's incubator Database adapter
// (session_id, data, created_at, modified_at), but:
//   - validateId(): PHP honours session.use_strict_mode only for handlers
//     that implement it; the incubator adapter does not, so it would adopt
//     attacker-chosen ids;
//   - one INSERT .. ON CONFLICT per write instead of SELECT COUNT + UPDATE or
//     INSERT, and read() reuses the row validateId() has just fetched;
//   - updateTimestamp() (lazy_write) touches modified_at only;
//   - emulated prepares: no Parse/Deallocate round trips per statement.
// Phalcon: $manager->setAdapter(SessionKit\PdoSessionHandler::fromConfig($config));
declare(strict_types=1);

namespace SessionKit;

use PDO;
use SessionHandlerInterface;
use SessionUpdateTimestampHandlerInterface;

final class PdoSessionHandler implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface
{
    private const DSN_KEYS = ['host', 'port', 'dbname', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey',
                              'connect_timeout', 'application_name'];

    private readonly string $table;

    /** @var array{0: string, 1: string|false}|null the row validateId() fetched last */
    private ?array $checked = null;

    public function __construct(private readonly PDO $db, string $table, private readonly int $idleTimeout)
    {
        $this->table = self::quoteIdentifier($table);
    }

    /** The handler for a session config rendered by the role (store postgresql). */
    public static function fromConfig(array $config): self
    {
        return new self(self::connect($config['db']), $config['options']['table'], (int) $config['idleTimeout']);
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
        return new PDO('pgsql:' . implode(';', $dsn), $db['username'], $db['password'], [
            PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
            PDO::ATTR_PERSISTENT => (bool) ($db['persistent'] ?? false),
            PDO::ATTR_EMULATE_PREPARES => true,
        ]);
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
        return $this->db->prepare(sprintf(
            'INSERT INTO %s (session_id, data, created_at, modified_at) VALUES (?, ?, ?, NULL) '
            . 'ON CONFLICT (session_id) DO UPDATE SET data = EXCLUDED.data, modified_at = EXCLUDED.created_at',
            $this->table
        ))->execute([$id, $data, time()]);
    }

    public function updateTimestamp(string $id, string $data): bool
    {
        return $this->db->prepare(sprintf('UPDATE %s SET modified_at = ? WHERE session_id = ?', $this->table))
            ->execute([time(), $id]);
    }

    public function destroy(string $id): bool
    {
        $this->checked = null;
        return $this->db->prepare(sprintf('DELETE FROM %s WHERE session_id = ?', $this->table))->execute([$id]);
    }

    public function gc(int $max_lifetime): int|false
    {
        $stmt = $this->db->prepare(sprintf('DELETE FROM %s WHERE COALESCE(modified_at, created_at) < ?', $this->table));
        return $stmt->execute([time() - $this->idleTimeout]) ? $stmt->rowCount() : false;
    }

    /** The data of the session if it is live (not idle longer than the idle timeout). */
    private function fetchLive(string $id): string|false
    {
        $stmt = $this->db->prepare(sprintf(
            'SELECT data FROM %s WHERE session_id = ? AND COALESCE(modified_at, created_at) >= ?',
            $this->table
        ));
        $stmt->execute([$id, time() - $this->idleTimeout]);
        $data = $stmt->fetchColumn();
        return $data === false ? false : (string) $data;
    }
}
