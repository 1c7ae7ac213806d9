<?php
// Live session probe of role php_session_app: a verification instrument for
// the kit's suite, not an app feature (off unless
// php_session_app_probe_enabled / the app's `probe` is true). It reads the
// app's rendered session config (SESSION_APP_CONFIG) and uses the store
// through PHP's native handler with exactly those settings:
//   redis      - phpredis' "redis" save handler;
//   postgresql - the role's SessionKit\PdoSessionHandler (the incubator
//                Database adapter's table, plus validateId for strict mode);
//   files      - PHP's "files" handler.
//
//   GET  /probe/session -> {"id": "<session id>", "count": n}
//   POST /probe/login   -> session_regenerate_id(true), {"id": "<new id>"}
//
// Everything it keeps lives under one reserved key, $_SESSION['_kit_probe']
// (count, login time), never a key an app could read as "logged in". It
// enforces the app's absolute timeout the way the README tells apps to.
declare(strict_types=1);

const PROBE_KEY = '_kit_probe';

function probe_reply(int $status, array $body): never
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($body, JSON_UNESCAPED_SLASHES), "\n";
    exit;
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
            // The role's handler (roles/php_session_app/files/PdoSessionHandler.php),
            // exactly as an app uses it.
            require_once $config['handler']['file'];
            session_set_save_handler(\SessionKit\PdoSessionHandler::fromConfig($config), true);
            return;
        case 'stream':
            ini_set('session.save_handler', 'files');
            ini_set('session.save_path', $options['savePath']);
            return;
    }
    probe_reply(500, ['error' => 'unknown adapter']);
}

/** The probe's own part of the session (the only key it reads or writes). */
function probe_state(): array
{
    $state = $_SESSION[PROBE_KEY] ?? [];
    return is_array($state) ? $state : [];
}

/**
 * Absolute timeout, as every app on a Redis store must do it (the store only
 * knows the idle timeout, its key TTL): the login time is kept in the
 * session, compared on every request, and an over-age session is destroyed
 * in the store and continues, empty, under a new id.
 */
function probe_enforce_absolute_timeout(int $absoluteTimeout): void
{
    $login = probe_state()['login'] ?? null;
    if (is_int($login) && time() - $login > $absoluteTimeout) {
        $_SESSION = [];
        session_regenerate_id(true);
    }
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
        probe_enforce_absolute_timeout((int) $config['absoluteTimeout']);
        $state = probe_state();
        $state['count'] = ($state['count'] ?? 0) + 1;
        $_SESSION[PROBE_KEY] = $state;
        probe_reply(200, ['id' => session_id(), 'count' => $state['count']]);
    }
    if ($path === '/probe/login' && $method === 'POST') {
        session_start();
        probe_enforce_absolute_timeout((int) $config['absoluteTimeout']);
        // A new id at login; the pre-login session is destroyed in the store.
        session_regenerate_id(true);
        $state = probe_state();
        $state['login'] = time();
        $_SESSION[PROBE_KEY] = $state;
        probe_reply(200, ['id' => session_id()]);
    }
    probe_reply(404, ['error' => 'not found']);
} catch (Throwable $e) {
    error_log('session probe: ' . $e->getMessage());
    probe_reply(500, ['error' => 'store unavailable']);
}
