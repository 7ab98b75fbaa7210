<?php
/**
 * Comment sentiment: classified after posting through WP-Cron, stored as comment meta,
 * shown as a column with a filter in the admin comments list.
 *
 * @package ServerlessNlpSentiment
 */

defined( 'ABSPATH' ) || exit;

/**
 * Posting a comment only schedules an event; the API is called later by cron, and a
 * failure reschedules with exponential backoff. Nothing here can block or reject a comment.
 *
 * The site's quota is spent only on purpose: only approved comments are sent (spam, trash
 * and comments waiting for moderation are not; a held comment is queued when it is approved),
 * and at most the "comments per hour" setting of them per clock hour: the rest wait, marked
 * "deferred", for the next hour. A comment flood costs the API at most that many texts an hour.
 */
class SNLP_Comments {

	const HOOK         = 'snlp_classify_comment';
	const REQUEUE_HOOK = 'snlp_requeue_failed_comments';

	const META_LABEL    = '_snlp_sentiment';
	const META_SCORE    = '_snlp_sentiment_score';
	const META_STATUS   = '_snlp_sentiment_status';   // pending | retrying | deferred | done | failed.
	const META_ATTEMPTS = '_snlp_sentiment_attempts';
	const META_MODEL    = '_snlp_sentiment_model';
	const META_ERROR    = '_snlp_sentiment_error';

	/** Every comment meta key the plugin writes (uninstall.php deletes them). */
	const META_KEYS = array( '_snlp_sentiment', '_snlp_sentiment_score', '_snlp_sentiment_status', '_snlp_sentiment_attempts', '_snlp_sentiment_model', '_snlp_sentiment_error' );

	const MAX_ATTEMPTS = 6;
	const BASE_DELAY   = 60;
	const MAX_DELAY    = 6 * HOUR_IN_SECONDS;
	const CRON_TIMEOUT = 15;

	/** Value of the filter dropdown that selects comments without a label. */
	const UNLABELLED = '_none';

	/**
	 * Hook everything up.
	 */
	public static function register() {
		add_action( 'comment_post', array( __CLASS__, 'on_comment_post' ), 10, 2 );
		add_action( 'edit_comment', array( __CLASS__, 'on_comment_edit' ) );
		add_action( 'transition_comment_status', array( __CLASS__, 'on_status_change' ), 10, 3 );
		add_action( self::HOOK, array( __CLASS__, 'classify_comment' ), 10, 2 );
		add_action( self::REQUEUE_HOOK, array( __CLASS__, 'requeue_failed' ) );
		if ( is_admin() ) {
			add_filter( 'manage_edit-comments_columns', array( __CLASS__, 'add_column' ) );
			add_action( 'manage_comments_custom_column', array( __CLASS__, 'render_column' ), 10, 2 );
			add_action( 'restrict_manage_comments', array( __CLASS__, 'render_filter' ) );
			add_filter( 'comments_list_table_query_args', array( __CLASS__, 'filter_query' ) );
			add_action( 'admin_enqueue_scripts', array( __CLASS__, 'enqueue_style' ) );
		}
	}

	/**
	 * The widget stylesheet on the comments screen (the column shows the same bar).
	 *
	 * @param string $hook_suffix Admin page.
	 */
	public static function enqueue_style( $hook_suffix ) {
		if ( 'edit-comments.php' === $hook_suffix ) {
			wp_enqueue_style( 'snlp-sentiment' );
		}
	}

	/**
	 * Queue a freshly posted comment (spam is left alone).
	 *
	 * @param int        $comment_id Comment ID.
	 * @param int|string $approved   1, 0 or 'spam'.
	 */
	public static function on_comment_post( $comment_id, $approved ) {
		if ( 1 === $approved || '1' === $approved ) { // Not 0 (held for moderation), 'spam' or 'trash'.
			self::queue( (int) $comment_id );
		}
	}

	/**
	 * Re-queue an edited comment: its text may have changed.
	 *
	 * @param int $comment_id Comment ID.
	 */
	public static function on_comment_edit( $comment_id ) {
		if ( self::is_approved( get_comment( (int) $comment_id ) ) ) {
			self::queue( (int) $comment_id );
		}
	}

	/**
	 * @param WP_Comment|null $comment Comment.
	 * @return bool True for a comment that is published (approved).
	 */
	private static function is_approved( $comment ) {
		return $comment && '1' === (string) $comment->comment_approved;
	}

	/**
	 * A comment approved by a moderator (or rescued from spam) was never sent: queue it now.
	 *
	 * @param string     $new_status New status.
	 * @param string     $old_status Old status.
	 * @param WP_Comment $comment    Comment.
	 */
	public static function on_status_change( $new_status, $old_status, $comment ) {
		if ( 'approved' === $new_status && 'approved' !== $old_status
			&& '' === (string) get_comment_meta( $comment->comment_ID, self::META_STATUS, true ) ) {
			self::queue( (int) $comment->comment_ID );
		}
	}

	/**
	 * Schedule classification now (cron runs it on the next request or wp-cron call).
	 *
	 * @param int $comment_id Comment ID.
	 */
	public static function queue( $comment_id ) {
		if ( ! SNLP_Options::get( 'comments_enabled' ) ) {
			return;
		}
		update_comment_meta( $comment_id, self::META_STATUS, 'pending' );
		update_comment_meta( $comment_id, self::META_ATTEMPTS, 0 );
		wp_schedule_single_event( time(), self::HOOK, array( $comment_id, 0 ) );
	}

	/**
	 * Cron callback: classify one comment, or reschedule with backoff.
	 *
	 * @param int $comment_id Comment ID.
	 * @param int $attempt    0 for the first try.
	 */
	public static function classify_comment( $comment_id, $attempt = 0 ) {
		$comment = get_comment( (int) $comment_id );
		if ( ! self::is_approved( $comment ) ) { // Unapproved, spammed or trashed since it was queued.
			if ( $comment ) {
				delete_comment_meta( $comment->comment_ID, self::META_STATUS );
			}
			return;
		}
		$text = SNLP_Service::clean_text( $comment->comment_content );
		if ( '' === $text ) {
			update_comment_meta( $comment->comment_ID, self::META_STATUS, 'done' );
			return;
		}
		if ( ! self::take_hourly_slot() ) {
			update_comment_meta( $comment->comment_ID, self::META_STATUS, 'deferred' );
			wp_schedule_single_event( self::next_hour() + wp_rand( 0, 300 ), self::HOOK, array( (int) $comment->comment_ID, (int) $attempt ) );
			return;
		}
		$result = SNLP_Service::classify( array( $text ), '', self::CRON_TIMEOUT );
		$data   = is_wp_error( $result ) ? $result->get_error_data() : null;
		if ( is_array( $data ) && ! empty( $data['breaker'] ) ) {
			self::give_back_slot(); // The breaker answered: no request reached the API.
		}
		if ( ! is_wp_error( $result ) ) {
			$id = (int) $comment->comment_ID;
			update_comment_meta( $id, self::META_LABEL, sanitize_key( $result[0]['label'] ) );
			update_comment_meta( $id, self::META_SCORE, (float) $result[0]['score'] );
			update_comment_meta( $id, self::META_MODEL, sanitize_text_field( $result[0]['model'] ) );
			update_comment_meta( $id, self::META_STATUS, 'done' );
			update_comment_meta( $id, self::META_ATTEMPTS, (int) $attempt + 1 );
			delete_comment_meta( $id, self::META_ERROR );
			return;
		}
		self::after_failure( (int) $comment->comment_ID, (int) $attempt, $result );
	}

	/**
	 * Count one comment text against this hour's cap; false when the cap is reached.
	 *
	 * @param int|null $now Unix time (tests pass it).
	 * @return bool
	 */
	public static function take_hourly_slot( $now = null ) {
		$now   = null === $now ? time() : (int) $now;
		$hour  = gmdate( 'YmdH', $now );
		$calls = get_option( SNLP_Options::CALLS, array() );
		$count = is_array( $calls ) && isset( $calls['hour'], $calls['count'] ) && $calls['hour'] === $hour ? (int) $calls['count'] : 0;
		if ( $count >= max( 1, (int) SNLP_Options::get( 'comments_per_hour' ) ) ) {
			return false;
		}
		update_option(
			SNLP_Options::CALLS,
			array(
				'hour'  => $hour,
				'count' => $count + 1,
			),
			false
		);
		return true;
	}

	/**
	 * Undo take_hourly_slot() when no request was sent after all.
	 */
	private static function give_back_slot() {
		$calls = get_option( SNLP_Options::CALLS, array() );
		if ( is_array( $calls ) && ! empty( $calls['count'] ) ) {
			$calls['count'] = (int) $calls['count'] - 1;
			update_option( SNLP_Options::CALLS, $calls, false );
		}
	}

	/**
	 * @param int|null $now Unix time.
	 * @return int The start of the next clock hour (UTC).
	 */
	public static function next_hour( $now = null ) {
		$now = null === $now ? time() : (int) $now;
		return $now - ( $now % HOUR_IN_SECONDS ) + HOUR_IN_SECONDS;
	}

	/**
	 * Reschedule (or give up after MAX_ATTEMPTS, or at once when retrying cannot help).
	 *
	 * @param int      $comment_id Comment ID.
	 * @param int      $attempt    The attempt that failed.
	 * @param WP_Error $error      Why.
	 */
	private static function after_failure( $comment_id, $attempt, WP_Error $error ) {
		$data      = $error->get_error_data();
		$data      = is_array( $data ) ? $data : array();
		$retryable = ! empty( $data['retryable'] ) || SNLP_Api_Client::ERR_AUTH === $error->get_error_code();
		update_comment_meta( $comment_id, self::META_ATTEMPTS, $attempt + 1 );
		update_comment_meta( $comment_id, self::META_ERROR, sanitize_key( $error->get_error_code() ) );
		if ( ! $retryable || $attempt + 1 >= self::MAX_ATTEMPTS ) {
			update_comment_meta( $comment_id, self::META_STATUS, 'failed' );
			return;
		}
		$retry_after = isset( $data['retry_after'] ) ? (int) $data['retry_after'] : 0;
		$delay       = self::backoff_delay( $attempt, $retry_after, wp_rand( 0, 1000 ) / 1000 );
		update_comment_meta( $comment_id, self::META_STATUS, 'retrying' );
		wp_schedule_single_event( time() + $delay, self::HOOK, array( $comment_id, $attempt + 1 ) );
	}

	/**
	 * Seconds before retry number $attempt + 1: BASE_DELAY * 2^attempt, capped at MAX_DELAY,
	 * plus up to 10 % jitter, and never sooner than the API's Retry-After.
	 *
	 * @param int   $attempt     The attempt that failed (0-based).
	 * @param int   $retry_after Retry-After seconds (0 when none).
	 * @param float $jitter      0..1 (random in production, fixed in tests).
	 * @return int
	 */
	public static function backoff_delay( $attempt, $retry_after = 0, $jitter = 0.0 ) {
		$attempt = max( 0, min( 30, (int) $attempt ) );
		$delay   = min( self::MAX_DELAY, self::BASE_DELAY * ( 2 ** $attempt ) );
		$delay   = (int) round( $delay * ( 1 + 0.1 * max( 0.0, min( 1.0, (float) $jitter ) ) ) );
		return max( $delay, (int) $retry_after );
	}

	/**
	 * After the token or URL changes: give failed comments another go (the newest 100).
	 */
	public static function requeue_failed() {
		$ids = get_comments(
			array(
				'fields'     => 'ids',
				'number'     => 100,
				'status'     => 'approve',
				'meta_key'   => self::META_STATUS, // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_key
				'meta_value' => 'failed', // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_value
			)
		);
		foreach ( $ids as $id ) {
			self::queue( (int) $id );
		}
	}

	/**
	 * @param array $columns Columns.
	 * @return array
	 */
	public static function add_column( $columns ) {
		$columns['snlp_sentiment'] = __( 'Sentiment', 'serverless-nlp-sentiment' );
		return $columns;
	}

	/**
	 * @param string $column     Column name.
	 * @param int    $comment_id Comment ID.
	 */
	public static function render_column( $column, $comment_id ) {
		if ( 'snlp_sentiment' !== $column ) {
			return;
		}
		$label = (string) get_comment_meta( $comment_id, self::META_LABEL, true );
		if ( '' !== $label ) {
			echo SNLP_Render::widget_html( $label, (float) get_comment_meta( $comment_id, self::META_SCORE, true ) ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- widget_html escapes.
			return;
		}
		$status = (string) get_comment_meta( $comment_id, self::META_STATUS, true );
		$texts  = array(
			'pending'  => __( 'Queued', 'serverless-nlp-sentiment' ),
			'retrying' => __( 'Retrying later', 'serverless-nlp-sentiment' ),
			'deferred' => __( 'Next hour (hourly cap)', 'serverless-nlp-sentiment' ),
			'failed'   => __( 'Failed', 'serverless-nlp-sentiment' ),
		);
		echo '<span class="snlp-sentiment-status" data-status="' . esc_attr( $status ) . '">'
			. esc_html( isset( $texts[ $status ] ) ? $texts[ $status ] : "\u{2014}" ) . '</span>';
	}

	/**
	 * The filter dropdown above the comments list.
	 */
	public static function render_filter() {
		if ( ! current_user_can( 'moderate_comments' ) ) {
			return;
		}
		$current = self::requested_filter();
		echo '<label class="screen-reader-text" for="snlp-sentiment-filter">' . esc_html__( 'Filter by sentiment', 'serverless-nlp-sentiment' ) . '</label>';
		echo '<select id="snlp-sentiment-filter" name="snlp_sentiment">';
		echo '<option value="">' . esc_html__( 'All sentiments', 'serverless-nlp-sentiment' ) . '</option>';
		foreach ( SNLP_Options::known_labels() as $label ) {
			printf( '<option value="%s"%s>%s</option>', esc_attr( $label ), selected( $current, $label, false ), esc_html( SNLP_Render::label_text( $label ) ) );
		}
		printf( '<option value="%s"%s>%s</option>', esc_attr( self::UNLABELLED ), selected( $current, self::UNLABELLED, false ), esc_html__( 'Not classified', 'serverless-nlp-sentiment' ) );
		echo '</select>';
	}

	/**
	 * Apply the dropdown's choice to the comments list query.
	 *
	 * @param array $args WP_Comment_Query args.
	 * @return array
	 */
	public static function filter_query( $args ) {
		$filter = self::requested_filter();
		if ( '' === $filter || ! current_user_can( 'moderate_comments' ) ) {
			return $args;
		}
		$clause = self::UNLABELLED === $filter
			? array(
				'key'     => self::META_LABEL,
				'compare' => 'NOT EXISTS',
			)
			: array(
				'key'   => self::META_LABEL,
				'value' => $filter,
			);
		$args['meta_query'] = isset( $args['meta_query'] ) && is_array( $args['meta_query'] ) // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_query
			? array_merge( $args['meta_query'], array( $clause ) )
			: array( $clause );
		return $args;
	}

	/**
	 * The filter value from the query string, sanitised ('' when none).
	 *
	 * @return string
	 */
	private static function requested_filter() {
		// A read-only list filter: no state changes, so no nonce (as with core's own comment type filter).
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended
		return isset( $_GET['snlp_sentiment'] ) ? sanitize_key( wp_unslash( $_GET['snlp_sentiment'] ) ) : '';
	}
}
