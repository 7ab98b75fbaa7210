<?php
/**
 * Unit-test bootstrap: the few WordPress functions the tested classes call, written to
 * behave like WordPress's own, with the HTTP layer replaced by a queue of canned answers.
 * No WordPress install and no database are needed.
 *
 * @package ServerlessNlpSentiment
 */

define( 'ABSPATH', __DIR__ . '/' );
define( 'MINUTE_IN_SECONDS', 60 );
define( 'HOUR_IN_SECONDS', 3600 );
define( 'DAY_IN_SECONDS', 86400 );

/**
 * WordPress's WP_Error, reduced to what the plugin uses.
 */
class WP_Error {
	/** @var array */
	public $errors = array();
	/** @var array */
	public $error_data = array();

	public function __construct( $code = '', $message = '', $data = '' ) {
		if ( '' === $code ) {
			return;
		}
		$this->errors[ $code ][] = $message;
		if ( '' !== $data ) {
			$this->error_data[ $code ] = $data;
		}
	}

	public function get_error_code() {
		$codes = array_keys( $this->errors );
		return $codes ? $codes[0] : '';
	}

	public function get_error_message( $code = '' ) {
		$code = '' === $code ? $this->get_error_code() : $code;
		return isset( $this->errors[ $code ][0] ) ? $this->errors[ $code ][0] : '';
	}

	public function get_error_data( $code = '' ) {
		$code = '' === $code ? $this->get_error_code() : $code;
		return isset( $this->error_data[ $code ] ) ? $this->error_data[ $code ] : null;
	}
}

function is_wp_error( $thing ) {
	return $thing instanceof WP_Error;
}

/**
 * Fake HTTP: tests queue answers and read back what was sent.
 */
class Fake_Http {
	/** @var array[] Requests sent: url + args. */
	public static $sent = array();
	/** @var array Answers to give, in order (arrays shaped like WordPress's, or WP_Error). */
	public static $answers = array();

	public static function reset() {
		self::$sent    = array();
		self::$answers = array();
	}

	/**
	 * Queue an HTTP answer.
	 *
	 * @param int          $status  Status code.
	 * @param string|array $body    Body (arrays are JSON-encoded).
	 * @param array        $headers Headers (names in any case).
	 */
	public static function answer( $status, $body, array $headers = array() ) {
		self::$answers[] = array(
			'headers'  => array_change_key_case( $headers, CASE_LOWER ),
			'body'     => is_array( $body ) ? json_encode( $body ) : (string) $body,
			'response' => array(
				'code'    => $status,
				'message' => '',
			),
		);
	}

	public static function fail( $message ) {
		self::$answers[] = new WP_Error( 'http_request_failed', $message );
	}

	public static function handle( $url, $args ) {
		$host         = (string) parse_url( $url, PHP_URL_HOST );
		self::$sent[] = array(
			'url'      => $url,
			'args'     => $args,
			// What WordPress's safe-URL check would be told while this request is sent.
			'external' => apply_filters( 'http_request_host_is_external', false, $host, $url ),
			'ports'    => apply_filters( 'http_allowed_safe_ports', array( 80, 443, 8080 ), $host, $url ),
		);
		if ( array() === self::$answers ) {
			throw new RuntimeException( 'unexpected HTTP request to ' . $url );
		}
		return array_shift( self::$answers );
	}
}

// Only the safe variants exist here: a call to wp_remote_get/post would be a fatal error.
function wp_safe_remote_get( $url, $args = array() ) {
	$args['method'] = 'GET';
	$args['_safe']  = true;
	return Fake_Http::handle( $url, $args );
}

function wp_safe_remote_post( $url, $args = array() ) {
	$args['method'] = 'POST';
	$args['_safe']  = true;
	return Fake_Http::handle( $url, $args );
}

function wp_parse_url( $url, $component = -1 ) {
	return parse_url( $url, $component );
}

/** Filters: enough of WordPress's add_filter / apply_filters to see what the plugin hooks, and when. */
class Fake_Filters {
	/** @var array hook => list of callbacks */
	public static $hooks = array();
}

function add_filter( $hook, $callback, $priority = 10, $accepted_args = 1 ) {
	Fake_Filters::$hooks[ $hook ][] = $callback;
	return true;
}

function remove_filter( $hook, $callback, $priority = 10 ) {
	$list                          = isset( Fake_Filters::$hooks[ $hook ] ) ? Fake_Filters::$hooks[ $hook ] : array();
	Fake_Filters::$hooks[ $hook ] = array_values( array_filter( $list, function ( $c ) use ( $callback ) {
		return $c !== $callback;
	} ) );
	return true;
}

function apply_filters( $hook, $value, ...$args ) {
	foreach ( isset( Fake_Filters::$hooks[ $hook ] ) ? Fake_Filters::$hooks[ $hook ] : array() as $callback ) {
		$value = $callback( $value, ...$args );
	}
	return $value;
}

function wp_remote_retrieve_response_code( $response ) {
	return is_wp_error( $response ) || ! isset( $response['response']['code'] ) ? '' : $response['response']['code'];
}

function wp_remote_retrieve_body( $response ) {
	return is_wp_error( $response ) || ! isset( $response['body'] ) ? '' : $response['body'];
}

function wp_remote_retrieve_header( $response, $header ) {
	$header = strtolower( $header );
	return isset( $response['headers'][ $header ] ) ? $response['headers'][ $header ] : '';
}

function wp_json_encode( $data ) {
	return json_encode( $data );
}

function __( $text, $domain = 'default' ) {
	return $text;
}

function esc_html( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8' );
}

function esc_attr( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8' );
}

function esc_html__( $text, $domain = 'default' ) {
	return esc_html( $text );
}

function esc_url( $url ) {
	return esc_attr( $url );
}

function admin_url( $path = '' ) {
	return 'https://site.test/wp-admin/' . $path;
}

/** The current user's capabilities. */
class Fake_User {
	/** @var string[] */
	public static $caps = array();
}

function current_user_can( $cap ) {
	return in_array( $cap, Fake_User::$caps, true );
}

/** Other users' capabilities (user id => caps) and the post being rendered. */
class Fake_Posts {
	/** @var array */
	public static $user_caps = array();
	/** @var object|null */
	public static $current = null;
}

function user_can( $user_id, $cap ) {
	return in_array( $cap, isset( Fake_Posts::$user_caps[ $user_id ] ) ? Fake_Posts::$user_caps[ $user_id ] : array(), true );
}

function get_post() {
	return Fake_Posts::$current;
}

function human_time_diff( $from, $to ) {
	$mins = (int) round( abs( $to - $from ) / 60 );
	return $mins . ' mins';
}

/** In-memory options table. */
class Fake_Options {
	/** @var array */
	public static $values = array();
	/** @var int Number of writes (update/delete). */
	public static $writes = 0;
}

function get_option( $name, $default = false ) {
	return array_key_exists( $name, Fake_Options::$values ) ? Fake_Options::$values[ $name ] : $default;
}

function update_option( $name, $value, $autoload = null ) {
	Fake_Options::$values[ $name ] = $value;
	Fake_Options::$writes++;
	return true;
}

function delete_option( $name ) {
	unset( Fake_Options::$values[ $name ] );
	Fake_Options::$writes++;
	return true;
}

/** Comments, their meta, scheduled events and transients: in memory. */
class Fake_Comments {
	/** @var array id => object with comment_ID, comment_approved, comment_content */
	public static $comments = array();
	/** @var array id => key => value */
	public static $meta = array();
	/** @var array[] Scheduled single events: time, hook, args. */
	public static $events = array();
	/** @var array name => value */
	public static $transients = array();

	public static function reset() {
		self::$comments   = array();
		self::$meta       = array();
		self::$events     = array();
		self::$transients = array();
	}

	public static function add( $id, $approved, $content ) {
		self::$comments[ $id ] = (object) array(
			'comment_ID'       => (string) $id,
			'comment_approved' => (string) $approved,
			'comment_content'  => $content,
		);
	}
}

function get_comment( $id ) {
	return isset( Fake_Comments::$comments[ $id ] ) ? Fake_Comments::$comments[ $id ] : null;
}

function get_comment_meta( $id, $key, $single = false ) {
	return isset( Fake_Comments::$meta[ $id ][ $key ] ) ? Fake_Comments::$meta[ $id ][ $key ] : '';
}

function update_comment_meta( $id, $key, $value ) {
	Fake_Comments::$meta[ $id ][ $key ] = $value;
	return true;
}

function delete_comment_meta( $id, $key ) {
	unset( Fake_Comments::$meta[ $id ][ $key ] );
	return true;
}

function wp_schedule_single_event( $timestamp, $hook, $args = array() ) {
	Fake_Comments::$events[] = array(
		'time' => $timestamp,
		'hook' => $hook,
		'args' => $args,
	);
	return true;
}

function wp_rand( $min = 0, $max = 0 ) {
	return $min;
}

function get_transient( $name ) {
	return isset( Fake_Comments::$transients[ $name ] ) ? Fake_Comments::$transients[ $name ] : false;
}

function set_transient( $name, $value, $ttl = 0 ) {
	Fake_Comments::$transients[ $name ] = $value;
	return true;
}

function home_url( $path = '' ) {
	return 'https://site.test' . $path;
}

function wp_strip_all_tags( $text ) {
	return strip_tags( (string) $text );
}

function sanitize_key( $key ) {
	return preg_replace( '/[^a-z0-9_\-]/', '', strtolower( (string) $key ) );
}

function sanitize_text_field( $text ) {
	return trim( strip_tags( (string) $text ) );
}

define( 'SNLP_VERSION', 'test' );

$snlp_dir = dirname( __DIR__, 2 ) . '/serverless-nlp-sentiment/includes/';
require_once $snlp_dir . 'class-snlp-api-client.php';
require_once $snlp_dir . 'class-snlp-options.php';
require_once $snlp_dir . 'class-snlp-service.php';
require_once $snlp_dir . 'class-snlp-render.php';
require_once $snlp_dir . 'class-snlp-comments.php';
require_once $snlp_dir . 'class-snlp-related.php';
require_once $snlp_dir . 'class-snlp-admin.php';
require_once $snlp_dir . 'class-snlp-notices.php';
