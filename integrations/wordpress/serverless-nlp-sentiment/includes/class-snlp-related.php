<?php
/**
 * Optional "related posts": post embeddings stored as post meta, the 3 nearest shown under a post.
 *
 * @package ServerlessNlpSentiment
 */

defined( 'ABSPATH' ) || exit;

/**
 * Embeddings are computed by cron (on publish, plus a backfill in batches) and compared
 * in PHP at render time: the API's embeddings are L2-normalised, so a dot product is the cosine.
 */
class SNLP_Related {

	const HOOK       = 'snlp_embed_posts';
	const META       = '_snlp_embedding';       // base64 of packed float32.
	const META_HASH  = '_snlp_embedding_hash';  // md5 of model + embedded text.
	const META_KEYS  = array( '_snlp_embedding', '_snlp_embedding_hash' );
	const BATCH      = 16;
	const CANDIDATES = 200;
	const SHOW       = 3;

	/**
	 * Hook everything up.
	 */
	public static function register() {
		add_action( self::HOOK, array( __CLASS__, 'embed_pending' ) );
		if ( ! SNLP_Options::get( 'related_enabled' ) ) {
			return;
		}
		add_action( 'save_post_post', array( __CLASS__, 'on_save' ), 10, 2 );
		add_filter( 'the_content', array( __CLASS__, 'append_related' ), 20 );
	}

	/**
	 * Schedule embedding work (a no-op when an event is already waiting).
	 */
	public static function schedule( $delay = 0 ) {
		if ( ! wp_next_scheduled( self::HOOK ) ) {
			wp_schedule_single_event( time() + (int) $delay, self::HOOK );
		}
	}

	/**
	 * @param int     $post_id Post ID.
	 * @param WP_Post $post    Post.
	 */
	public static function on_save( $post_id, $post ) {
		if ( 'publish' === $post->post_status && ! wp_is_post_revision( $post_id ) ) {
			self::schedule();
		}
	}

	/**
	 * Cron: embed up to BATCH published posts whose embedding is missing or stale; go on if more remain.
	 */
	public static function embed_pending() {
		if ( ! SNLP_Options::get( 'related_enabled' ) ) {
			return;
		}
		$model = (string) SNLP_Options::get( 'embed_model' );
		$todo  = array();
		$ids   = get_posts(
			array(
				'post_type'      => 'post',
				'post_status'    => 'publish',
				'posts_per_page' => self::CANDIDATES,
				'fields'         => 'ids',
				'orderby'        => 'date',
				'order'          => 'DESC',
			)
		);
		foreach ( $ids as $id ) {
			$text = self::post_text( $id );
			$hash = md5( $model . '|' . $text );
			if ( '' !== $text && get_post_meta( $id, self::META_HASH, true ) !== $hash ) {
				$todo[ $id ] = array( $text, $hash );
			}
			if ( count( $todo ) >= self::BATCH ) {
				break;
			}
		}
		if ( array() === $todo ) {
			return;
		}
		$vectors = SNLP_Service::embed( array_column( array_values( $todo ), 0 ), SNLP_Comments::CRON_TIMEOUT );
		if ( is_wp_error( $vectors ) ) {
			self::schedule( 10 * MINUTE_IN_SECONDS );
			return;
		}
		$i = 0;
		foreach ( $todo as $id => $item ) {
			update_post_meta( $id, self::META, self::pack( $vectors[ $i++ ] ) );
			update_post_meta( $id, self::META_HASH, $item[1] );
		}
		self::schedule();
	}

	/**
	 * Append "Related posts" to the main post's content.
	 *
	 * @param string $content Post content.
	 * @return string
	 */
	public static function append_related( $content ) {
		if ( ! is_singular( 'post' ) || ! in_the_loop() || ! is_main_query() ) {
			return $content;
		}
		$related = self::related_ids( get_the_ID() );
		if ( array() === $related ) {
			return $content;
		}
		$html = '<aside class="snlp-related"><h2>' . esc_html__( 'Related posts', 'serverless-nlp-sentiment' ) . '</h2><ul>';
		foreach ( $related as $id ) {
			$html .= '<li><a href="' . esc_url( get_permalink( $id ) ) . '">' . esc_html( get_the_title( $id ) ) . '</a></li>';
		}
		return $content . $html . '</ul></aside>';
	}

	/**
	 * The SHOW posts nearest to $post_id among recent posts with embeddings.
	 *
	 * @param int $post_id Post ID.
	 * @return int[]
	 */
	public static function related_ids( $post_id ) {
		$mine = self::unpack( (string) get_post_meta( $post_id, self::META, true ) );
		if ( array() === $mine ) {
			return array();
		}
		$ids    = get_posts(
			array(
				'post_type'      => 'post',
				'post_status'    => 'publish',
				'posts_per_page' => self::CANDIDATES,
				'fields'         => 'ids',
				'post__not_in'   => array( (int) $post_id ), // phpcs:ignore WordPressVIPMinimum.Performance.WPQueryParams.PostNotIn_post__not_in
				'meta_key'       => self::META, // phpcs:ignore WordPress.DB.SlowDBQuery.slow_db_query_meta_key
			)
		);
		$scored = array();
		foreach ( $ids as $id ) {
			$other = self::unpack( (string) get_post_meta( $id, self::META, true ) );
			if ( count( $other ) === count( $mine ) ) {
				$scored[ $id ] = self::dot( $mine, $other );
			}
		}
		arsort( $scored );
		return array_slice( array_keys( $scored ), 0, self::SHOW );
	}

	/**
	 * @param float[] $a Vector.
	 * @param float[] $b Vector of the same length.
	 * @return float
	 */
	public static function dot( array $a, array $b ) {
		$sum = 0.0;
		foreach ( $a as $i => $x ) {
			$sum += $x * $b[ $i ];
		}
		return $sum;
	}

	/**
	 * @param float[] $vector Floats.
	 * @return string base64 of little-endian float32s (a quarter of a serialised PHP array).
	 */
	public static function pack( array $vector ) {
		return base64_encode( pack( 'g*', ...$vector ) ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode
	}

	/**
	 * @param string $packed What pack() returned.
	 * @return float[]
	 */
	public static function unpack( $packed ) {
		$raw = '' !== $packed ? base64_decode( $packed, true ) : false; // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_decode
		if ( false === $raw || '' === $raw || 0 !== strlen( $raw ) % 4 ) {
			return array();
		}
		return array_values( unpack( 'g*', $raw ) );
	}

	/**
	 * Title and text of a post, as embedded.
	 *
	 * @param int $post_id Post ID.
	 * @return string
	 */
	private static function post_text( $post_id ) {
		$post = get_post( $post_id );
		if ( ! $post ) {
			return '';
		}
		$body = strip_shortcodes( $post->post_content );
		return SNLP_Service::clean_text( $post->post_title . '. ' . $body );
	}
}
