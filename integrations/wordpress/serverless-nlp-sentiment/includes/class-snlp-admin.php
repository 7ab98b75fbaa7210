<?php
/**
 * Admin side: the settings page (Settings API) and the "test connection" action.
 *
 * @package ServerlessNlpSentiment
 */

defined( 'ABSPATH' ) || exit;

/**
 * Settings > Sentiment (manage_options only).
 */
class SNLP_Admin {

	const PAGE        = 'snlp-settings';
	const GROUP       = 'snlp_settings_group';
	const TEST_ACTION = 'snlp_test_connection';

	/**
	 * Hook everything up.
	 */
	public static function register() {
		add_action( 'admin_menu', array( __CLASS__, 'add_page' ) );
		add_action( 'admin_init', array( __CLASS__, 'register_settings' ) );
		add_action( 'admin_post_' . self::TEST_ACTION, array( __CLASS__, 'handle_test_connection' ) );
		add_action( 'admin_notices', array( 'SNLP_Notices', 'render' ) );
		add_filter( 'plugin_action_links_' . plugin_basename( SNLP_PLUGIN_FILE ), array( __CLASS__, 'action_links' ) );
	}

	/**
	 * New URL or token: forget cached answers and the last error, retry failed comments.
	 */
	public static function after_settings_change() {
		SNLP_Options::bump_cache_gen();
		SNLP_Options::clear_error();
		if ( ! wp_next_scheduled( SNLP_Comments::REQUEUE_HOOK ) ) {
			wp_schedule_single_event( time(), SNLP_Comments::REQUEUE_HOOK );
		}
		if ( SNLP_Options::get( 'related_enabled' ) ) {
			SNLP_Related::schedule();
		}
	}

	/**
	 * @param string[] $links Plugin row links.
	 * @return string[]
	 */
	public static function action_links( $links ) {
		$url = admin_url( 'options-general.php?page=' . self::PAGE );
		array_unshift( $links, '<a href="' . esc_url( $url ) . '">' . esc_html__( 'Settings', 'serverless-nlp-sentiment' ) . '</a>' );
		return $links;
	}

	/**
	 * Settings > Sentiment.
	 */
	public static function add_page() {
		add_options_page(
			__( 'Sentiment (Serverless NLP)', 'serverless-nlp-sentiment' ),
			__( 'Sentiment', 'serverless-nlp-sentiment' ),
			'manage_options',
			self::PAGE,
			array( __CLASS__, 'render_page' )
		);
	}

	/**
	 * Options, sections and fields through the Settings API (options.php checks nonce and capability).
	 */
	public static function register_settings() {
		register_setting(
			self::GROUP,
			SNLP_Options::SETTINGS,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( __CLASS__, 'sanitize_settings' ),
				'default'           => SNLP_Options::defaults(),
			)
		);
		register_setting(
			self::GROUP,
			SNLP_Options::TOKEN,
			array(
				'type'              => 'string',
				'sanitize_callback' => array( __CLASS__, 'sanitize_token' ),
				'default'           => '',
			)
		);
		add_settings_section( 'snlp_api', __( 'API connection', 'serverless-nlp-sentiment' ), '__return_false', self::PAGE );
		add_settings_section( 'snlp_features', __( 'Features', 'serverless-nlp-sentiment' ), '__return_false', self::PAGE );
		add_settings_field( 'snlp_base_url', __( 'API base URL', 'serverless-nlp-sentiment' ), array( __CLASS__, 'field_base_url' ), self::PAGE, 'snlp_api', array( 'label_for' => 'snlp_base_url' ) );
		add_settings_field( 'snlp_token', __( 'API token', 'serverless-nlp-sentiment' ), array( __CLASS__, 'field_token' ), self::PAGE, 'snlp_api', array( 'label_for' => 'snlp_token' ) );
		add_settings_field( 'snlp_timeout', __( 'Timeout (seconds)', 'serverless-nlp-sentiment' ), array( __CLASS__, 'field_timeout' ), self::PAGE, 'snlp_api', array( 'label_for' => 'snlp_timeout' ) );
		add_settings_field( 'snlp_classify_model', __( 'Sentiment model', 'serverless-nlp-sentiment' ), array( __CLASS__, 'field_model' ), self::PAGE, 'snlp_features', array( 'label_for' => 'snlp_classify_model', 'key' => 'classify_model' ) );
		add_settings_field( 'snlp_comments_enabled', __( 'Comment sentiment', 'serverless-nlp-sentiment' ), array( __CLASS__, 'field_checkbox' ), self::PAGE, 'snlp_features', array( 'label_for' => 'snlp_comments_enabled', 'key' => 'comments_enabled', 'text' => __( 'Classify new comments in the background', 'serverless-nlp-sentiment' ) ) );
		add_settings_field( 'snlp_comments_per_hour', __( 'Comments per hour', 'serverless-nlp-sentiment' ), array( __CLASS__, 'field_comments_per_hour' ), self::PAGE, 'snlp_features', array( 'label_for' => 'snlp_comments_per_hour' ) );
		add_settings_field( 'snlp_model_capability', __( 'Who may choose a model', 'serverless-nlp-sentiment' ), array( __CLASS__, 'field_model_capability' ), self::PAGE, 'snlp_features', array( 'label_for' => 'snlp_model_capability' ) );
		add_settings_field( 'snlp_related_enabled', __( 'Related posts', 'serverless-nlp-sentiment' ), array( __CLASS__, 'field_checkbox' ), self::PAGE, 'snlp_features', array( 'label_for' => 'snlp_related_enabled', 'key' => 'related_enabled', 'text' => __( 'Show the 3 most similar posts under each post (uses embeddings)', 'serverless-nlp-sentiment' ) ) );
		add_settings_field( 'snlp_embed_model', __( 'Embedding model', 'serverless-nlp-sentiment' ), array( __CLASS__, 'field_model' ), self::PAGE, 'snlp_features', array( 'label_for' => 'snlp_embed_model', 'key' => 'embed_model' ) );
	}

	/**
	 * @param mixed $input Submitted settings.
	 * @return array
	 */
	public static function sanitize_settings( $input ) {
		$input = is_array( $input ) ? $input : array();
		$old   = SNLP_Options::settings();
		$out   = $old;
		if ( isset( $input['base_url'] ) ) {
			$url   = esc_url_raw( trim( (string) $input['base_url'] ), array( 'http', 'https' ) );
			$check = '' === $url ? true : SNLP_Api_Client::check_base_url( $url );
			if ( '' === $url && '' !== trim( (string) $input['base_url'] ) ) {
				add_settings_error( SNLP_Options::SETTINGS, 'snlp_base_url', __( 'The API base URL must start with https://.', 'serverless-nlp-sentiment' ) );
			} elseif ( is_wp_error( $check ) ) {
				add_settings_error( SNLP_Options::SETTINGS, 'snlp_base_url', $check->get_error_message() );
			} else {
				$out['base_url'] = untrailingslashit( $url );
			}
		}
		foreach ( array( 'classify_model', 'embed_model' ) as $key ) {
			if ( isset( $input[ $key ] ) ) {
				$model       = preg_replace( '/[^A-Za-z0-9_.:@\-]/', '', (string) $input[ $key ] );
				$out[ $key ] = '' !== $model ? $model : SNLP_Options::defaults()[ $key ];
			}
		}
		if ( isset( $input['timeout'] ) ) {
			$out['timeout'] = max( 1, min( 30, absint( $input['timeout'] ) ) );
		}
		if ( isset( $input['comments_per_hour'] ) ) {
			$out['comments_per_hour'] = max( 1, min( 100000, absint( $input['comments_per_hour'] ) ) );
		}
		if ( isset( $input['model_capability'] ) && in_array( $input['model_capability'], SNLP_Options::MODEL_CAPABILITIES, true ) ) {
			$out['model_capability'] = $input['model_capability'];
		}
		// An unticked checkbox is absent from the form (which sends the _form marker). WordPress
		// may also run this callback again on the sanitised array (first save: update_option
		// then add_option), so it must be idempotent.
		foreach ( array( 'comments_enabled', 'related_enabled' ) as $key ) {
			if ( isset( $input['_form'] ) || isset( $input[ $key ] ) ) {
				$out[ $key ] = empty( $input[ $key ] ) ? 0 : 1;
			}
		}
		return $out;
	}

	/**
	 * An empty field keeps the stored token (the form never contains it); a tick in
	 * "remove token" clears it.
	 *
	 * @param mixed $input Submitted token.
	 * @return string
	 */
	public static function sanitize_token( $input ) {
		// options.php has already checked the nonce and capability for this group.
		// phpcs:ignore WordPress.Security.NonceVerification.Missing
		if ( ! empty( $_POST['snlp_token_clear'] ) ) {
			return '';
		}
		$token = preg_replace( '/[^\x21-\x7E]/', '', (string) $input );
		return '' !== $token ? $token : SNLP_Options::token();
	}

	/** Base URL field. */
	public static function field_base_url() {
		printf(
			'<input type="url" class="regular-text code" id="snlp_base_url" name="%s[base_url]" value="%s" placeholder="https://api.example.com" />',
			esc_attr( SNLP_Options::SETTINGS ),
			esc_attr( (string) SNLP_Options::get( 'base_url' ) )
		);
	}

	/** Token field: a password input that never contains the token; the masked value is shown beside it. */
	public static function field_token() {
		$masked = SNLP_Options::mask( SNLP_Options::token() );
		printf(
			'<input type="password" class="regular-text code" id="snlp_token" name="%s" value="" autocomplete="new-password" placeholder="%s" />',
			esc_attr( SNLP_Options::TOKEN ),
			esc_attr( '' !== $masked ? $masked : __( 'Paste your API token', 'serverless-nlp-sentiment' ) )
		);
		if ( '' !== $masked ) {
			echo '<p class="description">';
			/* translators: %s: masked token. */
			printf( esc_html__( 'Stored token: %s. Leave the field empty to keep it.', 'serverless-nlp-sentiment' ), '<code>' . esc_html( $masked ) . '</code>' );
			echo '</p><p><label><input type="checkbox" name="snlp_token_clear" value="1" /> ' . esc_html__( 'Remove the stored token', 'serverless-nlp-sentiment' ) . '</label></p>';
		}
	}

	/** Timeout field. */
	public static function field_timeout() {
		printf(
			'<input type="number" min="1" max="30" class="small-text" id="snlp_timeout" name="%s[timeout]" value="%d" /><p class="description">%s</p>',
			esc_attr( SNLP_Options::SETTINGS ),
			(int) SNLP_Options::get( 'timeout' ),
			esc_html__( 'How long a page waits for the API before leaving the widget out. Background jobs wait longer.', 'serverless-nlp-sentiment' )
		);
	}

	/** Hourly cap on comment texts sent to the API. */
	public static function field_comments_per_hour() {
		printf(
			'<input type="number" min="1" max="100000" class="small-text" id="snlp_comments_per_hour" name="%s[comments_per_hour]" value="%d" /><p class="description">%s</p>',
			esc_attr( SNLP_Options::SETTINGS ),
			(int) SNLP_Options::get( 'comments_per_hour' ),
			esc_html__( 'Only approved comments are sent, at most this many per hour; the others wait for the next hour. A comment flood cannot use up your API quota.', 'serverless-nlp-sentiment' )
		);
	}

	/** The capability an author needs for the model="..." of a shortcode or block to count. */
	public static function field_model_capability() {
		$names   = array(
			'manage_options'    => __( 'Administrators (manage_options)', 'serverless-nlp-sentiment' ),
			'edit_others_posts' => __( 'Editors and up (edit_others_posts)', 'serverless-nlp-sentiment' ),
			'publish_posts'     => __( 'Authors and up (publish_posts)', 'serverless-nlp-sentiment' ),
			'edit_posts'        => __( 'Contributors and up (edit_posts)', 'serverless-nlp-sentiment' ),
		);
		$current = (string) SNLP_Options::get( 'model_capability' );
		printf( '<select id="snlp_model_capability" name="%s[model_capability]">', esc_attr( SNLP_Options::SETTINGS ) );
		foreach ( SNLP_Options::MODEL_CAPABILITIES as $cap ) {
			printf( '<option value="%s"%s>%s</option>', esc_attr( $cap ), selected( $current, $cap, false ), esc_html( $names[ $cap ] ) );
		}
		echo '</select><p class="description">' . esc_html__( 'Other authors get the sentiment model above, whatever model their shortcode or block names.', 'serverless-nlp-sentiment' ) . '</p>';
	}

	/**
	 * Model name field.
	 *
	 * @param array $args Field args ('key').
	 */
	public static function field_model( $args ) {
		printf(
			'<input type="text" class="regular-text code" id="snlp_%1$s" name="%2$s[%1$s]" value="%3$s" />',
			esc_attr( $args['key'] ),
			esc_attr( SNLP_Options::SETTINGS ),
			esc_attr( (string) SNLP_Options::get( $args['key'] ) )
		);
	}

	/**
	 * Checkbox field.
	 *
	 * @param array $args Field args ('key', 'text').
	 */
	public static function field_checkbox( $args ) {
		printf(
			'<label><input type="checkbox" id="snlp_%1$s" name="%2$s[%1$s]" value="1" %3$s /> %4$s</label>',
			esc_attr( $args['key'] ),
			esc_attr( SNLP_Options::SETTINGS ),
			checked( (int) SNLP_Options::get( $args['key'] ), 1, false ),
			esc_html( $args['text'] )
		);
	}

	/**
	 * The settings page, with the connection test below the form.
	 */
	public static function render_page() {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		echo '<div class="wrap"><h1>' . esc_html( get_admin_page_title() ) . '</h1>';
		echo '<form method="post" action="' . esc_url( admin_url( 'options.php' ) ) . '">';
		settings_fields( self::GROUP );
		echo '<input type="hidden" name="' . esc_attr( SNLP_Options::SETTINGS ) . '[_form]" value="1" />';
		do_settings_sections( self::PAGE );
		submit_button();
		echo '</form>';

		echo '<h2>' . esc_html__( 'Test connection', 'serverless-nlp-sentiment' ) . '</h2>';
		self::render_test_result();
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '">';
		echo '<input type="hidden" name="action" value="' . esc_attr( self::TEST_ACTION ) . '" />';
		wp_nonce_field( self::TEST_ACTION );
		echo '<p class="description">' . esc_html__( 'Uses the saved URL and token and lists the models this token may use.', 'serverless-nlp-sentiment' ) . '</p>';
		submit_button( __( 'Test connection', 'serverless-nlp-sentiment' ), 'secondary', 'snlp_test', false );
		echo '</form></div>';
	}

	/**
	 * admin-post.php?action=snlp_test_connection: GET /v1/models, remember the result briefly, go back.
	 */
	public static function handle_test_connection() {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'You are not allowed to do this.', 'serverless-nlp-sentiment' ), '', array( 'response' => 403 ) );
		}
		check_admin_referer( self::TEST_ACTION );
		$models = SNLP_Service::client()->models();
		if ( is_wp_error( $models ) ) {
			$data   = $models->get_error_data();
			$result = array(
				'ok'      => false,
				'code'    => $models->get_error_code(),
				'message' => SNLP_Notices::error_text( $models->get_error_code(), is_array( $data ) && isset( $data['retry_after'] ) ? (int) $data['retry_after'] : 0 ),
				'detail'  => is_array( $data ) && isset( $data['detail'] ) ? (string) $data['detail'] : '',
			);
		} else {
			SNLP_Options::clear_error();
			$result = array(
				'ok'     => true,
				'models' => $models,
			);
		}
		set_transient( 'snlp_test_' . get_current_user_id(), $result, 5 * MINUTE_IN_SECONDS );
		wp_safe_redirect( admin_url( 'options-general.php?page=' . self::PAGE . '&snlp_tested=1' ) );
		exit;
	}

	/**
	 * The last connection test of this user, shown once.
	 */
	private static function render_test_result() {
		$key    = 'snlp_test_' . get_current_user_id();
		$result = get_transient( $key );
		if ( ! is_array( $result ) ) {
			return;
		}
		delete_transient( $key );
		if ( empty( $result['ok'] ) ) {
			echo '<div class="notice notice-error inline snlp-test-result"><p>' . esc_html( $result['message'] ) . '</p>';
			if ( '' !== $result['detail'] ) {
				echo '<p><code>' . esc_html( $result['detail'] ) . '</code></p>';
			}
			echo '</div>';
			return;
		}
		echo '<div class="notice notice-success inline snlp-test-result"><p>';
		/* translators: %d: number of models. */
		echo esc_html( sprintf( _n( 'Connected. %d model is available to this token:', 'Connected. %d models are available to this token:', count( $result['models'] ), 'serverless-nlp-sentiment' ), count( $result['models'] ) ) );
		echo '</p><ul class="snlp-models">';
		foreach ( $result['models'] as $model ) {
			echo '<li><code>' . esc_html( $model['name'] ) . '</code>';
			if ( '' !== $model['version'] ) {
				/* translators: %s: model version. */
				echo ' &middot; ' . esc_html( sprintf( __( 'version %s', 'serverless-nlp-sentiment' ), $model['version'] ) );
			}
			if ( '' !== $model['task'] ) {
				echo ' &middot; ' . esc_html( $model['task'] );
			}
			if ( array() !== $model['labels'] ) {
				echo ' &middot; ' . esc_html( implode( ', ', $model['labels'] ) );
			}
			echo '</li>';
		}
		echo '</ul></div>';
	}
}
