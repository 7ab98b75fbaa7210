<?php
/**
 * Admin notices that explain, in plain words, why sentiment widgets are missing.
 *
 * @package ServerlessNlpSentiment
 */

defined( 'ABSPATH' ) || exit;

/**
 * Shown on every admin screen to users who can fix the settings, while the API is failing
 * (bad token, quota used up, service down); the next call that works clears it.
 */
class SNLP_Notices {

	/**
	 * A notice on admin screens while the API is failing (bad token, quota, down).
	 */
	public static function render() {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		$err = SNLP_Options::last_error();
		if ( null === $err ) {
			return;
		}
		$link = admin_url( 'options-general.php?page=' . SNLP_Admin::PAGE );
		$wait = max( 0, (int) $err['retry_after'] - ( time() - (int) $err['time'] ) ); // Retry-After counts from the failure.
		printf(
			'<div class="notice notice-%1$s snlp-notice" data-snlp-error="%2$s"><p><strong>%3$s</strong> %4$s <a href="%5$s">%6$s</a></p></div>',
			esc_attr( SNLP_Api_Client::ERR_QUOTA === $err['code'] ? 'warning' : 'error' ),
			esc_attr( $err['code'] ),
			esc_html__( 'Sentiment (Serverless NLP):', 'serverless-nlp-sentiment' ),
			esc_html( self::error_text( $err['code'], $wait ) ),
			esc_url( $link ),
			esc_html__( 'Open the settings', 'serverless-nlp-sentiment' )
		);
	}

	/**
	 * A friendly sentence for each kind of failure.
	 *
	 * @param string $code        Error code.
	 * @param int    $retry_after Seconds.
	 * @return string
	 */
	public static function error_text( $code, $retry_after = 0 ) {
		switch ( $code ) {
			case SNLP_Api_Client::ERR_AUTH:
				return __( 'The API rejected your token. Check the token on the settings page; sentiment widgets are hidden until it works.', 'serverless-nlp-sentiment' );
			case SNLP_Api_Client::ERR_QUOTA:
				if ( $retry_after > 0 ) {
					/* translators: %s: human-readable duration such as "5 mins". */
					return sprintf( __( 'Your API quota is used up. Sentiment widgets are hidden and will come back in about %s.', 'serverless-nlp-sentiment' ), human_time_diff( time(), time() + $retry_after ) );
				}
				return __( 'Your API quota is used up. Sentiment widgets are hidden until it resets.', 'serverless-nlp-sentiment' );
			case SNLP_Api_Client::ERR_UNAVAILABLE:
			case SNLP_Api_Client::ERR_NETWORK:
				return __( 'The sentiment API is not reachable right now. Widgets are hidden and comments will be analysed later.', 'serverless-nlp-sentiment' );
			case SNLP_Api_Client::ERR_NOT_FOUND:
				return __( 'The API does not know the configured model (or the base URL is wrong).', 'serverless-nlp-sentiment' );
			case SNLP_Api_Client::ERR_CONFIG:
				return __( 'The plugin needs an API base URL and token.', 'serverless-nlp-sentiment' );
			default:
				return __( 'The sentiment API answered unexpectedly.', 'serverless-nlp-sentiment' );
		}
	}
}
