<?php
// Phalcon session bootstrap of role php_session_app (installed as
// /usr/local/share/php-session-app/phalcon-session.php): a
// Phalcon\Session\Manager built from the app's rendered session config
// (SESSION_APP_CONFIG), with the adapter that config names:
//   redis      - Phalcon\Session\Adapter\Redis through Storage\AdapterFactory:
//                tls:// with the config's stream context (peer and name
//                verified against the store's CA; Phalcon >= 5.9 passes
//                "ssl"), ACL auth [user, password], the key prefix of the
//                ACL pattern, lifetime = idle timeout, persistent connection
//                with its own persistent id;
//   files      - Phalcon\Session\Adapter\Stream in the app's 0700 directory;
//   postgresql - the role's SessionKit\PdoSessionHandler via setAdapter().
//
//   require_once '/usr/local/share/php-session-app/phalcon-session.php';
//   $session = \SessionKit\PhalconSession::start();          // started Manager
//   $session = \SessionKit\PhalconSession::fromConfig($cfg); // not started (DI)
//
// Pitfalls handled here (docs/phalcon.md):
// - Phalcon's default prefixes ("sess-reds-" for Redis, "sess-" for Stream)
//   lie outside the ACL key pattern / PHP's "sess_" files: the config's
//   prefix is always passed, and an empty one is refused.
// - Phalcon's Redis adapter connects to "host" as given and passes "ssl" as
//   the stream context. The scheme is added here (tls://, phpredis' documented
//   way to ask for TLS). A mutation run (scheme removed) still reached the
//   TLS-only store, so this is belt and braces, not the only guard.
// - Its adapters implement validateId (Storage has() / file exists), so PHP's
//   strict mode refuses ids the store does not know; the kit's PDO handler
//   implements it too.
// - Data is stored unserialized ("none" serializer): the same bytes PHP's
//   native redis/files handlers write, so both can serve the same sessions.
// - Phalcon's Redis adapter releases its session lock with EVAL, which the
//   kit's stores refuse to app users: KitRedisAdapter releases it with EVALSHA
//   of the script the stores preload (docs/redis-tenants.md).
// - Adapter\Stream writes session files with the process umask (0644 under
//   PHP-FPM; PHP's files handler writes 0600): PrivateStreamAdapter writes
//   them 0600 (found by the live probe under FPM, docs/phalcon.md).
// - Cookie flags, strict mode and the session name are enforced by the FPM
//   pool (php_admin_*): the Manager must not (and cannot) change them.
declare(strict_types=1);

namespace SessionKit;

use Phalcon\Session\Adapter\Redis as RedisAdapter;
use Phalcon\Session\Adapter\Stream as StreamAdapter;
use Phalcon\Session\Manager;
use Phalcon\Storage\AdapterFactory;
use Phalcon\Storage\SerializerFactory;
use RuntimeException;
use SessionHandlerInterface;

final class PhalconSession
{
    /** Lowest Phalcon that passes the Redis adapter's "ssl" stream context. */
    public const MIN_PHALCON = '5.9.0';

    /** The rendered config of this app (SESSION_APP_CONFIG, set by its pool). */
    public static function config(?string $file = null): array
    {
        $file ??= (string) getenv('SESSION_APP_CONFIG');
        if ($file === '' || !is_readable($file)) {
            throw new RuntimeException('SESSION_APP_CONFIG does not name a readable session config');
        }
        $config = (static fn (string $f): mixed => require $f)($file);
        if (!is_array($config)) {
            throw new RuntimeException("$file does not return an array");
        }
        return $config;
    }

    /** A started Manager for this app (what the probe and plain scripts call). */
    public static function start(?array $config = null): Manager
    {
        $manager = self::fromConfig($config ?? self::config());
        if (!$manager->start()) {
            throw new RuntimeException('the session did not start (headers already sent?)');
        }
        return $manager;
    }

    /** A Manager wired to the config's store, not started (a DI "session" service). */
    public static function fromConfig(array $config): Manager
    {
        $version = phpversion('phalcon');
        if ($version === false) {
            throw new RuntimeException('the phalcon extension is not loaded');
        }
        if (version_compare($version, self::MIN_PHALCON, '<')) {
            throw new RuntimeException("Phalcon $version ignores the Redis TLS options: " . self::MIN_PHALCON . ' or later is needed');
        }
        $manager = new Manager(['uniqueId' => (string) ($config['manager']['uniqueId'] ?? $config['app'])]);
        $manager->setAdapter(self::adapter($config));
        return $manager;
    }

    /** The session handler for the config's store. */
    public static function adapter(array $config): SessionHandlerInterface
    {
        $options = $config['options'] ?? [];
        switch ($config['adapter'] ?? '') {
            case 'redis':
                return new KitRedisAdapter(new AdapterFactory(new SerializerFactory()), self::redisOptions($config));
            case 'stream':
                $prefix = (string) ($options['prefix'] ?? '');
                $savePath = (string) ($options['savePath'] ?? '');
                if ($prefix === '' || !str_starts_with($savePath, '/')) {
                    throw new RuntimeException('files store: options.prefix and an absolute options.savePath are required');
                }
                return new PrivateStreamAdapter(['prefix' => $prefix, 'savePath' => $savePath]);
            case 'database':
                require_once $config['handler']['file'];
                $class = $config['handler']['class'];
                return $class::fromConfig($config);
        }
        throw new RuntimeException('unknown session adapter ' . var_export($config['adapter'] ?? null, true));
    }

    /** Options of Phalcon\Session\Adapter\Redis (and its Storage adapter). */
    public static function redisOptions(array $config): array
    {
        $o = $config['options'];
        $prefix = (string) ($o['prefix'] ?? '');
        if ($prefix === '') {
            // Phalcon would use "sess-reds-", outside the ACL user's key pattern.
            throw new RuntimeException('redis store: options.prefix (inside the ACL key pattern) is required');
        }
        $ssl = $o['ssl'] ?? [];
        if (($ssl['verify_peer'] ?? false) !== true || ($ssl['verify_peer_name'] ?? false) !== true) {
            throw new RuntimeException('redis store: options.ssl must verify the peer and its name');
        }
        $timeout = (float) ($o['timeout'] ?? 2.5);
        return [
            // TLS explicitly (the store accepts nothing else).
            'host' => 'tls://' . preg_replace('#\A(tls|ssl)://#', '', (string) $o['host']),
            'port' => (int) $o['port'],
            'index' => (int) ($o['index'] ?? 0),
            // Redis 6 ACL: AUTH user password (Phalcon passes the array to phpredis).
            'auth' => array_values($o['auth']),
            'prefix' => $prefix,
            'lifetime' => (int) $o['lifetime'],
            'persistent' => (bool) ($o['persistent'] ?? false),
            // One pooled connection per worker and app (Phalcon's default id
            // "persistentId<index>" would be shared by every app of a process).
            'persistentId' => 'session-kit-' . $config['app'],
            'timeout' => $timeout,
            'readTimeout' => $timeout,
            'ssl' => $ssl,
            // The session's own encoding, as PHP's native handlers store it.
            'defaultSerializer' => 'none',
            // Lock keys are PREFIX<id>-lock: inside the ACL pattern.
            'lockingEnabled' => (bool) ($o['lockingEnabled'] ?? false),
        ];
    }
}

if (class_exists(RedisAdapter::class)) {
    /**
     * Phalcon's Redis adapter, but the session lock is released with EVALSHA of
     * phpredis' release script, which the store preloads on every node: Phalcon
     * (5.18) sends EVAL of its own script text, and the kit's stores refuse EVAL
     * to every app user (one tenant's EVAL could stall the store for all;
     * docs/redis-tenants.md). Same semantics: delete the lock only if it still
     * holds our token. Without the script (NOSCRIPT) the lock expires after
     * lockExpiry seconds instead.
     */
    class KitRedisAdapter extends RedisAdapter
    {
        /** SHA-1 of phpredis' LOCK_RELEASE_LUA_STR (redis_session.c), loaded by redis_session_store. */
        public const LOCK_RELEASE_SHA = 'b70c2384248f88e6b75b9f89241a180f856ad852';

        protected function releaseLock(): void
        {
            if ($this->lockAcquired !== true) {
                return;
            }
            $client = $this->adapter->getAdapter();
            $released = $client->rawCommand('EVALSHA', self::LOCK_RELEASE_SHA, 1, $this->lockKey, $this->lockToken);
            if ($released === false) {
                error_log('session-kit: the session lock was not released (it expires): ' . (string) $client->getLastError());
            }
            $this->lockAcquired = false;
            $this->lockToken = '';
        }
    }
}

if (class_exists(StreamAdapter::class)) {
    /** Phalcon's Stream adapter, but session files 0600 (owner only) whatever the process umask. */
    final class PrivateStreamAdapter extends StreamAdapter
    {
        public function write($id, $data): bool
        {
            $umask = umask(0077);
            try {
                return parent::write($id, $data);
            } finally {
                umask($umask);
            }
        }
    }
}
