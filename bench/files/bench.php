<?php
// `make bench`: one request = session start + read + write of ~2 KB.
// BENCH_STORE picks the handler: files / redis use PHP's native handlers as
// configured by the pool; pgsql uses the SQL of the kit's session probe
// (roles/php_session_app/files/probe.php, the Phalcon incubator Database
// adapter's statements: SELECT, then SELECT COUNT + UPDATE or INSERT).
declare(strict_types=1);

final class BenchDatabaseHandler implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface
{
    /** @var array{0: string, 1: array<int, mixed>|false}|null */
    private ?array $live = null;

    // $lean (BENCH_PG_LEAN=1, the tuning candidate): one upsert instead of
    // SELECT COUNT + UPDATE/INSERT, and read() reuses validateId()'s row.
    public function __construct(private readonly PDO $db, private readonly string $table, private readonly bool $lean = false)
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
        return $row === false ? '' : (string) $row[0];
    }

    public function write(string $id, string $data): bool
    {
        if ($this->lean) {
            return $this->db->prepare(sprintf(
                'INSERT INTO %s AS s (session_id, data, created_at, modified_at) VALUES (?, ?, ?, NULL) '
                . 'ON CONFLICT (session_id) DO UPDATE SET data = EXCLUDED.data, modified_at = EXCLUDED.created_at',
                $this->table
            ))->execute([$id, $data, time()]);
        }
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
        if ($this->lean && $this->live !== null && $this->live[0] === $id) {
            $row = $this->live[1];
            $this->live = null;
            return $row;
        }
        $stmt = $this->db->prepare(sprintf(
            'SELECT data FROM %s WHERE session_id = ? AND COALESCE(modified_at, created_at) + %d >= ?',
            $this->table,
            (int) ini_get('session.gc_maxlifetime')
        ));
        $stmt->execute([$id, time()]);
        $row = $stmt->fetch(PDO::FETCH_NUM);
        if ($this->lean) {
            $this->live = [$id, $row];
        }
        return $row;
    }
}

function bench_quote_identifier(string $name): string
{
    return implode('.', array_map(static fn (string $p): string => '"' . str_replace('"', '""', $p) . '"', explode('.', $name)));
}

try {
    if (getenv('BENCH_STORE') === 'pgsql') {
        $pdo = new PDO(
            (string) getenv('BENCH_PG_DSN'),
            (string) getenv('BENCH_PG_USER'),
            (string) getenv('BENCH_PG_PASSWORD'),
            [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_PERSISTENT => getenv('BENCH_PG_PERSISTENT') === '1',
             // Lean: no server-side prepare round trip per statement.
             PDO::ATTR_EMULATE_PREPARES => getenv('BENCH_PG_LEAN') === '1']
        );
        $table = bench_quote_identifier((string) getenv('BENCH_PG_TABLE'));
        session_set_save_handler(new BenchDatabaseHandler($pdo, $table, getenv('BENCH_PG_LEAN') === '1'), true);
    }
    if (!session_start()) {
        throw new RuntimeException('session_start failed');
    }
    $previous = strlen($_SESSION['blob'] ?? '');
    $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
    $_SESSION['created'] ??= time();
    // ~2 KB of fresh data every request, so lazy_write always writes.
    $_SESSION['blob'] = bin2hex(random_bytes(1000));
    session_write_close();
    header('Content-Type: text/plain');
    echo $previous, ' ', $_SESSION['n'], "\n";
} catch (Throwable $e) {
    error_log('bench: ' . $e->getMessage());
    http_response_code(500);
    echo "error\n";
}
