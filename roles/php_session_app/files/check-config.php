<?php
// Structure check of a session config rendered by role php_session_app:
//   php check-config.php FILE STORE IDLE_TIMEOUT
// Runs php -l on it, then includes it. Exit 0 when the file returns the expected array, 1 with a message otherwise.
declare(strict_types=1);

[$self, $file, $store, $idle] = $argv + [null, '', '', '0'];
$fail = static function (string $message) use ($file): never {
    fwrite(STDERR, "$file: $message\n");
    exit(1);
};
exec(escapeshellarg(PHP_BINARY) . ' -n -l ' . escapeshellarg($file) . ' 2>&1', $lint, $rc);
if ($rc !== 0) {
    $fail('php -l: ' . implode(' ', $lint));
}
$config = (static fn (string $f): mixed => require $f)($file);
if (!is_array($config)) {
    $fail('does not return an array');
}
$adapters = ['redis' => 'redis', 'postgresql' => 'database', 'files' => 'stream'];
$expect = [
    'store' => $store,
    'adapter' => $adapters[$store] ?? '?',
    'idleTimeout' => (int) $idle,
];
foreach ($expect as $key => $value) {
    if (($config[$key] ?? null) !== $value) {
        $fail("$key must be " . var_export($value, true) . ', got ' . var_export($config[$key] ?? null, true));
    }
}
if (!is_int($config['absoluteTimeout'] ?? null) || $config['absoluteTimeout'] < $config['idleTimeout']) {
    $fail('absoluteTimeout must be an integer not below idleTimeout');
}
if (!is_string($config['manager']['uniqueId'] ?? null) || !is_array($config['options'] ?? null)) {
    $fail('manager.uniqueId and options are required');
}
$cookie = $config['cookie'] ?? [];
if (($cookie['secure'] ?? false) !== true || ($cookie['httponly'] ?? false) !== true
    || !in_array($cookie['samesite'] ?? '', ['Strict', 'Lax'], true) || ($cookie['lifetime'] ?? -1) !== 0) {
    $fail('cookie must be secure, httponly, SameSite Strict or Lax, lifetime 0');
}
$options = $config['options'];
switch ($store) {
    case 'redis':
        foreach (['host' => 'is_string', 'port' => 'is_int', 'prefix' => 'is_string', 'persistent' => 'is_bool',
                  'ssl' => 'is_array', 'auth' => 'is_array'] as $key => $check) {
            if (!$check($options[$key] ?? null)) {
                $fail("options.$key is missing or has the wrong type");
            }
        }
        if (count($options['auth']) !== 2 || $options['prefix'] === '' || ($options['lifetime'] ?? null) !== (int) $idle) {
            $fail('options.auth must be [user, password], prefix non-empty, lifetime = idle timeout');
        }
        if (($options['ssl']['verify_peer'] ?? false) !== true || ($options['ssl']['verify_peer_name'] ?? false) !== true
            || !is_file($options['ssl']['cafile'] ?? '')) {
            $fail('options.ssl must verify the peer and its name against an existing cafile');
        }
        break;
    case 'postgresql':
        $db = $config['db'] ?? [];
        foreach (['host', 'dbname', 'username', 'password', 'schema', 'sslrootcert'] as $key) {
            if (!is_string($db[$key] ?? null) || $db[$key] === '') {
                $fail("db.$key is missing");
            }
        }
        if (($db['sslmode'] ?? '') !== 'verify-full' || !is_file($db['sslrootcert'])) {
            $fail('db.sslmode must be verify-full with an existing sslrootcert');
        }
        if (!is_bool($db['persistent'] ?? null) || !is_file($config['handler']['file'] ?? '')
            || ($config['handler']['class'] ?? '') !== 'SessionKit\\PdoSessionHandler') {
            $fail('db.persistent must be a boolean and handler name the installed SessionKit\\PdoSessionHandler');
        }
        if (!is_string($options['table'] ?? null) || !preg_match('/^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/', $options['table'])) {
            $fail('options.table must be schema.table');
        }
        break;
    case 'files':
        if (!is_string($options['savePath'] ?? null) || !str_starts_with($options['savePath'], '/')) {
            $fail('options.savePath must be an absolute path');
        }
        break;
    default:
        $fail("unknown store $store");
}
echo "ok\n";
