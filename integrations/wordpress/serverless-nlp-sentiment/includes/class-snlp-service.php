<?php
/**
 * What the rest of the plugin calls: the API client plus caching, a circuit breaker and
 * error bookkeeping for the admin notice.
 *
 * @package ServerlessNlpSentiment
 */

defined( 'ABSPATH' ) || exit;

/**
 * Page views must never wait on an API that is known to be failing: after an auth,
 * quota or availability failure the breaker stays open for a while (Retry-After when
 * the API gives one) and widgets are simply left out.
 */
class SNLP_Service {

	const CACHE_TTL   = DAY_IN_SECONDS;
	const BREAKER_TTL = 120;

	/**
	 * A client configured from the stored settings.
	 *
	 * @param float|null $timeout Seconds; the settings value when null.
	 * @return SNLP_Api_Client
	 */
	public static function client( $timeout = null ) {
		$timeout = null === $timeout ? (float) SNLP_Options::get( 'timeout' ) : (float) $timeout;
		return new SNLP_Api_Client(
			(string) SNLP_Options::get( 'base_url' ),
			SNLP_Options::token(),
			$timeout,
			'serverless-nlp-sentiment/' . SNLP_VERSION . '; ' . home_url( '/' )
		);
	}

	/**
	 * Classify one text for display, with caching. Never raises; a WP_Error means "leave the widget out".
	 *
	 * @param string $text  Text.
	 * @param string $model Model reference ('' = the configured default).
	 * @return array|WP_Error Prediction (label, score, scores, model).
	 */
	public static function classify_for_display( $text, $model = '' ) {
		$text  = self::clean_text( $text );
		$model = '' !== $model ? $model : (string) SNLP_Options::get( 'classify_model' );
		if ( '' === $text ) {
			return new WP_Error( 'snlp_empty', __( 'Nothing to analyse.', 'serverless-nlp-sentiment' ) );
		}
		$key    = 'snlp_c_' . md5( SNLP_Options::cache_gen() . '|' . $model . '|' . $text );
		$cached = get_transient( $key );
		if ( is_array( $cached ) && isset( $cached['label'] ) ) {
			return $cached;
		}
		$result = self::classify( array( $text ), $model );
		if ( is_wp_error( $result ) ) {
			return $result;
		}
		set_transient( $key, $result[0], self::CACHE_TTL );
		return $result[0];
	}

	/**
	 * Classify texts without caching (used by cron).
	 *
	 * @param string[]   $texts   Texts.
	 * @param string     $model   Model reference ('' = default).
	 * @param float|null $timeout Seconds.
	 * @return array|WP_Error
	 */
	public static function classify( array $texts, $model = '', $timeout = null ) {
		$model = '' !== $model ? $model : (string) SNLP_Options::get( 'classify_model' );
		$open  = self::breaker_open();
		if ( is_wp_error( $open ) ) {
			return $open;
		}
		$result = self::client( $timeout )->classify( $texts, $model );
		self::note_outcome( $result );
		if ( ! is_wp_error( $result ) ) {
			SNLP_Options::remember_labels( array_keys( $result[0]['scores'] ) ?: array( $result[0]['label'] ) );
		}
		return $result;
	}

	/**
	 * Embed texts without caching.
	 *
	 * @param string[]   $texts   Texts.
	 * @param float|null $timeout Seconds.
	 * @return array|WP_Error
	 */
	public static function embed( array $texts, $timeout = null ) {
		$open = self::breaker_open();
		if ( is_wp_error( $open ) ) {
			return $open;
		}
		$result = self::client( $timeout )->embed( $texts, (string) SNLP_Options::get( 'embed_model' ) );
		self::note_outcome( $result );
		return $result;
	}

	/**
	 * Trim, strip markup and cap a text at what the API accepts.
	 *
	 * @param string $text Raw text.
	 * @return string
	 */
	public static function clean_text( $text ) {
		$text = trim( preg_replace( '/\s+/u', ' ', wp_strip_all_tags( (string) $text ) ) );
		return function_exists( 'mb_substr' ) ? mb_substr( $text, 0, 2000 ) : substr( $text, 0, 2000 );
	}

	/**
	 * Record success or failure: the admin notice and the breaker follow the API's health.
	 *
	 * @param mixed $result API result or WP_Error.
	 */
	private static function note_outcome( $result ) {
		if ( ! is_wp_error( $result ) ) {
			SNLP_Options::clear_error();
			return;
		}
		$code = $result->get_error_code();
		$tell = array( SNLP_Api_Client::ERR_AUTH, SNLP_Api_Client::ERR_QUOTA, SNLP_Api_Client::ERR_UNAVAILABLE, SNLP_Api_Client::ERR_NETWORK, SNLP_Api_Client::ERR_NOT_FOUND, SNLP_Api_Client::ERR_CONFIG );
		if ( in_array( $code, $tell, true ) ) {
			SNLP_Options::record_error( $result );
		}
		if ( in_array( $code, array( SNLP_Api_Client::ERR_AUTH, SNLP_Api_Client::ERR_QUOTA, SNLP_Api_Client::ERR_UNAVAILABLE, SNLP_Api_Client::ERR_NETWORK ), true ) ) {
			$data  = $result->get_error_data();
			$after = is_array( $data ) && ! empty( $data['retry_after'] ) ? (int) $data['retry_after'] : self::BREAKER_TTL;
			set_transient( self::breaker_key(), array( 'code' => $code, 'message' => $result->get_error_message() ), max( 1, min( $after, HOUR_IN_SECONDS ) ) );
		}
	}

	/**
	 * @return true|WP_Error WP_Error while the breaker is open.
	 */
	private static function breaker_open() {
		$open = get_transient( self::breaker_key() );
		if ( is_array( $open ) && isset( $open['code'] ) ) {
			return new WP_Error( $open['code'], (string) $open['message'], array( 'retryable' => true, 'breaker' => true ) );
		}
		return true;
	}

	/**
	 * @return string Transient name; tied to the cache generation so a settings change closes it.
	 */
	private static function breaker_key() {
		return 'snlp_breaker_' . SNLP_Options::cache_gen();
	}
}
