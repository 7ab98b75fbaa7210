<?php
/**
 * The plugin's stored state: settings, token, last API error, cache generation.
 *
 * @package ServerlessNlpSentiment
 */

defined( 'ABSPATH' ) || exit;

/**
 * One place that knows every option name and its defaults.
 */
class SNLP_Options {

	const SETTINGS   = 'snlp_settings';
	const TOKEN      = 'snlp_api_token';
	const LAST_ERROR = 'snlp_last_error';
	const CACHE_GEN  = 'snlp_cache_gen';
	const LABELS     = 'snlp_known_labels';
	const CALLS      = 'snlp_comment_calls'; // API calls for comments this hour: array( 'hour' => 'YmdH', 'count' => n ).

	/** Every option the plugin writes (uninstall.php deletes them). */
	const ALL = array( 'snlp_settings', 'snlp_api_token', 'snlp_last_error', 'snlp_cache_gen', 'snlp_known_labels', 'snlp_comment_calls' );

	/** Capabilities an admin may require for choosing a model in a shortcode or block, most to least trusted. */
	const MODEL_CAPABILITIES = array( 'manage_options', 'edit_others_posts', 'publish_posts', 'edit_posts' );

	/**
	 * Defaults for the settings array.
	 *
	 * @return array
	 */
	public static function defaults() {
		return array(
			'base_url'         => '',
			'classify_model'   => 'sentiment',
			'embed_model'      => 'minilm-embed',
			'comments_enabled' => 1,
			'related_enabled'  => 0,
			'timeout'          => 5,
			// Comments send at most this many texts to the API per hour; the rest wait for the next hour.
			'comments_per_hour' => 100,
			// Authors without this capability get the configured model, whatever their shortcode or block asks for.
			'model_capability'  => 'manage_options',
		);
	}

	/**
	 * Settings merged over their defaults.
	 *
	 * @return array
	 */
	public static function settings() {
		$stored = get_option( self::SETTINGS, array() );
		return array_merge( self::defaults(), is_array( $stored ) ? $stored : array() );
	}

	/**
	 * One setting.
	 *
	 * @param string $key Setting name.
	 * @return mixed
	 */
	public static function get( $key ) {
		$all = self::settings();
		return isset( $all[ $key ] ) ? $all[ $key ] : null;
	}

	/**
	 * The stored token ('' when none). Never print it.
	 *
	 * @return string
	 */
	public static function token() {
		$token = get_option( self::TOKEN, '' );
		return is_string( $token ) ? $token : '';
	}

	/**
	 * A masked form of a token that is safe to show: bullets and its last four characters.
	 *
	 * @param string $token Token.
	 * @return string '' for an empty token.
	 */
	public static function mask( $token ) {
		$token = (string) $token;
		$len   = strlen( $token );
		if ( 0 === $len ) {
			return '';
		}
		// Short tokens show nothing of themselves: four characters would be most of them.
		$tail = $len >= 16 ? substr( $token, -4 ) : '';
		return str_repeat( "\u{2022}", 8 ) . $tail;
	}

	/**
	 * Labels the classify model is known to produce (for the comments filter).
	 *
	 * @return string[]
	 */
	public static function known_labels() {
		$labels = get_option( self::LABELS, array() );
		if ( ! is_array( $labels ) || array() === $labels ) {
			return array( 'negative', 'neutral', 'positive' );
		}
		return array_values( array_filter( $labels, 'is_string' ) );
	}

	/**
	 * Remember labels seen in API answers (written only when something new shows up).
	 *
	 * @param string[] $labels Labels.
	 */
	public static function remember_labels( array $labels ) {
		$known  = get_option( self::LABELS, array() );
		$known  = is_array( $known ) ? $known : array();
		$merged = array_values( array_unique( array_merge( $known, array_filter( $labels, 'is_string' ) ) ) );
		sort( $merged );
		if ( $merged !== $known ) {
			update_option( self::LABELS, $merged, false );
		}
	}

	/**
	 * Cache generation: bumped whenever the settings change, so cached results are dropped.
	 *
	 * @return int
	 */
	public static function cache_gen() {
		return (int) get_option( self::CACHE_GEN, 1 );
	}

	/**
	 * Drop every cached result and the circuit breaker.
	 */
	public static function bump_cache_gen() {
		update_option( self::CACHE_GEN, self::cache_gen() + 1, true );
	}

	/**
	 * The last API failure worth telling the site owner about, or null.
	 *
	 * @return array|null Keys: code, message, status, retry_after, time.
	 */
	public static function last_error() {
		$err = get_option( self::LAST_ERROR, null );
		return is_array( $err ) && isset( $err['code'] ) ? $err : null;
	}

	/**
	 * Record a failure for the admin notice (only writes when the kind of failure changes).
	 *
	 * @param WP_Error $error Classified API error.
	 */
	public static function record_error( WP_Error $error ) {
		$data = $error->get_error_data();
		$data = is_array( $data ) ? $data : array();
		$new  = array(
			'code'        => $error->get_error_code(),
			'status'      => isset( $data['status'] ) ? (int) $data['status'] : 0,
			'retry_after' => isset( $data['retry_after'] ) ? (int) $data['retry_after'] : 0,
			'time'        => time(),
		);
		$old = self::last_error();
		if ( null !== $old && $old['code'] === $new['code'] && $old['status'] === $new['status'] && $new['time'] - (int) $old['time'] < 300 ) {
			return;
		}
		update_option( self::LAST_ERROR, $new, false );
	}

	/**
	 * Forget the last failure after a call that worked.
	 */
	public static function clear_error() {
		if ( null !== self::last_error() ) {
			delete_option( self::LAST_ERROR );
		}
	}
}
