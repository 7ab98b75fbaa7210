<?php
/**
 * The [sentiment] shortcode, the editor block and the widget markup they share.
 *
 * @package ServerlessNlpSentiment
 */

defined( 'ABSPATH' ) || exit;

/**
 * Renders a label with a confidence bar, or nothing at all when the API cannot answer.
 */
class SNLP_Render {

	const BLOCK = 'serverless-nlp/sentiment';

	/**
	 * Hook everything up.
	 */
	public static function register() {
		add_shortcode( 'sentiment', array( __CLASS__, 'shortcode' ) );
		add_action( 'init', array( __CLASS__, 'register_assets_and_block' ) );
	}

	/**
	 * The stylesheet (enqueued only where a widget is shown) and the dynamic block: a
	 * no-build editor script and a server-side render.
	 */
	public static function register_assets_and_block() {
		wp_register_style( 'snlp-sentiment', plugins_url( 'assets/sentiment.css', SNLP_PLUGIN_FILE ), array(), SNLP_VERSION );
		wp_register_script(
			'snlp-block-editor',
			plugins_url( 'assets/block.js', SNLP_PLUGIN_FILE ),
			array( 'wp-blocks', 'wp-element', 'wp-block-editor', 'wp-components', 'wp-i18n', 'wp-server-side-render' ),
			SNLP_VERSION,
			true
		);
		if ( function_exists( 'wp_set_script_translations' ) ) {
			wp_set_script_translations( 'snlp-block-editor', 'serverless-nlp-sentiment', SNLP_PLUGIN_DIR . 'languages' );
		}
		register_block_type(
			self::BLOCK,
			array(
				'api_version'     => 2,
				'editor_script'   => 'snlp-block-editor',
				'editor_style'    => 'snlp-sentiment',
				'render_callback' => array( __CLASS__, 'render_block' ),
				'attributes'      => array(
					'text'  => array(
						'type'    => 'string',
						'default' => '',
					),
					'model' => array(
						'type'    => 'string',
						'default' => '',
					),
				),
			)
		);
	}

	/**
	 * [sentiment text="..."] or [sentiment]text[/sentiment]; optional model="...".
	 *
	 * @param array|string $atts    Attributes.
	 * @param string|null  $content Enclosed content.
	 * @return string HTML.
	 */
	public static function shortcode( $atts, $content = null ) {
		$atts = shortcode_atts(
			array(
				'text'  => '',
				'model' => '',
			),
			$atts,
			'sentiment'
		);
		$text = '' !== $atts['text'] ? $atts['text'] : (string) $content;
		return self::widget_for( $text, sanitize_text_field( $atts['model'] ) );
	}

	/**
	 * Block render callback.
	 *
	 * @param array $attributes Block attributes.
	 * @return string HTML.
	 */
	public static function render_block( $attributes ) {
		$text  = isset( $attributes['text'] ) ? (string) $attributes['text'] : '';
		$model = isset( $attributes['model'] ) ? sanitize_text_field( (string) $attributes['model'] ) : '';
		return self::widget_for( $text, $model );
	}

	/**
	 * Classify and render; '' when the API cannot answer (the admin notice explains why).
	 *
	 * @param string $text  Text.
	 * @param string $model Model reference.
	 * @return string HTML.
	 */
	public static function widget_for( $text, $model ) {
		$prediction = SNLP_Service::classify_for_display( $text, self::allowed_model( $model ) );
		if ( is_wp_error( $prediction ) ) {
			return '';
		}
		wp_enqueue_style( 'snlp-sentiment' );
		return self::widget_html( $prediction['label'], $prediction['score'] );
	}

	/**
	 * The model a shortcode or block may use: the one it names only when the post's author (or,
	 * outside a post, the current user) has the capability chosen in the settings; otherwise ''
	 * (the configured model), so an author cannot spend the site's quota on models of their choice.
	 *
	 * @param string $model Model reference from the shortcode or block.
	 * @return string
	 */
	public static function allowed_model( $model ) {
		$model = (string) $model;
		if ( '' === $model ) {
			return '';
		}
		$cap    = (string) SNLP_Options::get( 'model_capability' );
		$post   = get_post();
		$author = $post ? (int) $post->post_author : 0;
		$may    = $author > 0 ? user_can( $author, $cap ) : current_user_can( $cap );
		return $may ? $model : '';
	}

	/**
	 * Markup for a label and its confidence (pure: escapes everything it prints).
	 *
	 * @param string $label Label from the API.
	 * @param float  $score Confidence 0..1.
	 * @return string HTML.
	 */
	public static function widget_html( $label, $score ) {
		$pct  = (int) round( 100 * max( 0.0, min( 1.0, (float) $score ) ) );
		$slug = preg_replace( '/[^a-z0-9_-]/', '', strtolower( (string) $label ) );
		/* translators: %d: confidence in percent. */
		$conf = sprintf( __( 'Confidence %d%%', 'serverless-nlp-sentiment' ), $pct );
		return sprintf(
			'<span class="snlp-sentiment snlp-sentiment--%1$s" data-label="%2$s" data-score="%3$s">'
			. '<span class="snlp-sentiment__label">%4$s</span>'
			. '<span class="snlp-sentiment__bar" role="img" aria-label="%5$s"><span class="snlp-sentiment__fill" style="width:%6$d%%"></span></span>'
			. '<span class="snlp-sentiment__score">%6$d%%</span>'
			. '</span>',
			esc_attr( $slug ),
			esc_attr( (string) $label ),
			esc_attr( number_format( (float) $score, 4, '.', '' ) ),
			esc_html( self::label_text( (string) $label ) ),
			esc_attr( $conf ),
			$pct
		);
	}

	/**
	 * Human (translatable) text for the default labels; other labels as the model names them.
	 *
	 * @param string $label Label.
	 * @return string
	 */
	public static function label_text( $label ) {
		switch ( $label ) {
			case 'positive':
				return __( 'Positive', 'serverless-nlp-sentiment' );
			case 'neutral':
				return __( 'Neutral', 'serverless-nlp-sentiment' );
			case 'negative':
				return __( 'Negative', 'serverless-nlp-sentiment' );
			default:
				return $label;
		}
	}
}
