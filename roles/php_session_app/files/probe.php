<?php
// Live session probe of role php_session_app: a verification instrument for
// the kit's suite, not an app feature (off unless
// php_session_app_probe_enabled / the app's `probe` is true). It reads the
// app's rendered session config (SESSION_APP_CONFIG) and uses the store with
// exactly those settings:
// - with the Phalcon extension loaded (the role's default): through the
//   shipped bootstrap, \SessionKit\PhalconSession::start($config), i.e.
//   Phalcon\Session\Manager with Adapter\Redis (Storage AdapterFactory),
//   Adapter\Stream or the kit's PDO handler via setAdapter(), exactly as a
//   Phalcon app does (docs/phalcon.md);
// - without Phalcon: PHP's native handlers -
//   redis      - phpredis' "redis" save handler;
//   postgresql - the role's SessionKit\PdoSessionHandler (the incubator
//                Database adapter's table, plus validateId for strict mode);
//   files      - PHP's "files" handler.
//
//   GET  /probe/session -> {"id": "<session id>", "count": n, "framework": f}
//   GET  /probe/session?sleep_ms=n -> the same, n ms (at most 5000) between
//                          reading and writing the session: a slow request,
//                          for the suite's race tests
//   POST /probe/login   -> regenerate the id (old one destroyed), {"id": "<new id>", "framework": f}
//   POST /probe/logout  -> destroy the session in the store, {"id": "", "framework": f}
//   (f: "phalcon <Phalcon\Support\Version::get()>" or "php")
//
// Everything it keeps lives under one reserved entry, '_kit_probe' (count,
// login time), never a key an app could read as "logged in". Phalcon's
// Manager namespaces its keys with its uniqueId (the app's name): there the
// one entry is $_SESSION['<app>#_kit_probe']. It enforces the app's absolute
// timeout the way the README tells apps to.
declare(strict_types=1);

const PROBE_KEY = '_kit_probe';

/** What serves the session: "phalcon <version>" or "php" (native handlers). */
function probe_framework(): string
{
    return extension_loaded('phalcon') ? 'phalcon ' . (new \Phalcon\Support\Version())->get() : 'php';
}

function probe_reply(int $status, array $body): never
{
    $body['framework'] = probe_framework();
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

/**
 * The session, through Phalcon\Session\Manager when Phalcon is loaded, else
 * PHP's native functions; only the probe's reserved entry is read or written.
 */
final class ProbeSession
{
    private static ?\Phalcon\Session\Manager $manager = null;

    public static function start(array $config): void
    {
        if (extension_loaded('phalcon')) {
            // The shipped bootstrap, installed next to the probe.
            require_once __DIR__ . '/phalcon-session.php';
            self::$manager = \SessionKit\PhalconSession::start($config);
            return;
        }
        probe_use_store($config);
        if (!session_start()) {
            throw new RuntimeException('the session did not start');
        }
    }

    public static function id(): string
    {
        return self::$manager?->getId() ?? (string) session_id();
    }

    /** The probe's own part of the session (the only entry it reads or writes). */
    public static function state(): array
    {
        $state = self::$manager !== null ? self::$manager->get(PROBE_KEY) : ($_SESSION[PROBE_KEY] ?? null);
        return is_array($state) ? $state : [];
    }

    public static function save(array $state): void
    {
        if (self::$manager !== null) {
            self::$manager->set(PROBE_KEY, $state);
            return;
        }
        $_SESSION[PROBE_KEY] = $state;
    }

    /** A new id; the old session is deleted in the store (regenerateId(true)). */
    public static function regenerate(): void
    {
        if (self::$manager !== null) {
            self::$manager->regenerateId(true);
            return;
        }
        session_regenerate_id(true);
    }

    /** Log out: the session is destroyed in the store. */
    public static function destroy(): void
    {
        if (self::$manager !== null) {
            self::$manager->destroy();
            return;
        }
        $_SESSION = [];
        session_destroy();
    }

    /** Empty the session (the probe's entry is the only one it ever writes). */
    public static function clear(): void
    {
        if (self::$manager !== null) {
            self::$manager->remove(PROBE_KEY);
            return;
        }
        $_SESSION = [];
    }
}

/**
 * Absolute timeout, as every app on a Redis store must do it (the store only
 * knows the idle timeout, its key TTL): the login time is kept in the
 * session, compared on every request, and an over-age session is destroyed
 * in the store and continues, empty, under a new id.
 */
function probe_enforce_absolute_timeout(int $absoluteTimeout): void
{
    $login = ProbeSession::state()['login'] ?? null;
    if (is_int($login) && time() - $login > $absoluteTimeout) {
        ProbeSession::clear();
        ProbeSession::regenerate();
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
    $path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
    $method = $_SERVER['REQUEST_METHOD'] ?? 'GET';
    if ($path === '/probe/session' && $method === 'GET') {
        ProbeSession::start($config);
        probe_enforce_absolute_timeout((int) $config['absoluteTimeout']);
        $state = ProbeSession::state();
        // A slow request (bounded): the session is read now, written at exit.
        $sleepMs = min(max((int) ($_GET['sleep_ms'] ?? 0), 0), 5000);
        if ($sleepMs > 0) {
            usleep($sleepMs * 1000);
        }
        $state['count'] = ($state['count'] ?? 0) + 1;
        ProbeSession::save($state);
        probe_reply(200, ['id' => ProbeSession::id(), 'count' => $state['count']]);
    }
    if ($path === '/probe/logout' && $method === 'POST') {
        ProbeSession::start($config);
        ProbeSession::destroy();
        probe_reply(200, ['id' => '']);
    }
    // Like /probe/session, but the session is written (committed in the
    // store) BEFORE the reply: a 200 means the write was acknowledged. The
    // HA failover test counts on it.
    if ($path === '/probe/commit' && $method === 'POST') {
        ProbeSession::start($config);
        $state = ProbeSession::state();
        $state['count'] = ($state['count'] ?? 0) + 1;
        ProbeSession::save($state);
        $id = ProbeSession::id();
        if (!session_write_close()) {
            throw new RuntimeException('the session write failed');
        }
        probe_reply(200, ['id' => $id, 'count' => $state['count']]);
    }
    if ($path === '/probe/login' && $method === 'POST') {
        ProbeSession::start($config);
        probe_enforce_absolute_timeout((int) $config['absoluteTimeout']);
        // A new id at login; the pre-login session is destroyed in the store.
        ProbeSession::regenerate();
        $state = ProbeSession::state();
        $state['login'] = time();
        ProbeSession::save($state);
        probe_reply(200, ['id' => ProbeSession::id()]);
    }
    probe_reply(404, ['error' => 'not found']);
} catch (Throwable $e) {
    error_log('session probe: ' . $e->getMessage());
    probe_reply(500, ['error' => 'store unavailable']);
}
