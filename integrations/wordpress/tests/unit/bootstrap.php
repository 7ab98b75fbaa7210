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
		self::$sent[] = array(
			'url'  => $url,
			'args' => $args,
		);
		if ( array() === self::$answers ) {
			throw new RuntimeException( 'unexpected HTTP request to ' . $url );
		}
		return array_shift( self::$answers );
	}
}

function wp_remote_get( $url, $args = array() ) {
	$args['method'] = 'GET';
	return Fake_Http::handle( $url, $args );
}

function wp_remote_post( $url, $args = array() ) {
	$args['method'] = 'POST';
	return Fake_Http::handle( $url, $args );
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

$snlp_dir = dirname( __DIR__, 2 ) . '/serverless-nlp-sentiment/includes/';
require_once $snlp_dir . 'class-snlp-api-client.php';
require_once $snlp_dir . 'class-snlp-options.php';
require_once $snlp_dir . 'class-snlp-render.php';
require_once $snlp_dir . 'class-snlp-comments.php';
require_once $snlp_dir . 'class-snlp-related.php';
require_once $snlp_dir . 'class-snlp-admin.php';
require_once $snlp_dir . 'class-snlp-notices.php';
