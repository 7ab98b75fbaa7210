<?php
/**
 * Plugin Name:       Serverless NLP Sentiment
 * Description:       Sentiment labels for any text, post or comment, from your Serverless NLP API: a [sentiment] shortcode, an editor block, comment sentiment in the background and related posts.
 * Version:           0.2.0
 * Requires at least: 6.0
 * Requires PHP:      7.4
 * Author:            Serverless NLP
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       serverless-nlp-sentiment
 * Domain Path:       /languages
 *
 * @package ServerlessNlpSentiment
 */

defined( 'ABSPATH' ) || exit;

define( 'SNLP_VERSION', '0.2.0' );
define( 'SNLP_PLUGIN_FILE', __FILE__ );
define( 'SNLP_PLUGIN_DIR', plugin_dir_path( __FILE__ ) );

require_once SNLP_PLUGIN_DIR . 'includes/class-snlp-api-client.php';
require_once SNLP_PLUGIN_DIR . 'includes/class-snlp-options.php';
require_once SNLP_PLUGIN_DIR . 'includes/class-snlp-service.php';
require_once SNLP_PLUGIN_DIR . 'includes/class-snlp-render.php';
require_once SNLP_PLUGIN_DIR . 'includes/class-snlp-comments.php';
require_once SNLP_PLUGIN_DIR . 'includes/class-snlp-related.php';
require_once SNLP_PLUGIN_DIR . 'includes/class-snlp-admin.php';
require_once SNLP_PLUGIN_DIR . 'includes/class-snlp-notices.php';

/**
 * Load translations and register every part of the plugin.
 */
function snlp_boot() {
	load_plugin_textdomain( 'serverless-nlp-sentiment', false, dirname( plugin_basename( SNLP_PLUGIN_FILE ) ) . '/languages' );
	SNLP_Render::register();
	SNLP_Comments::register();
	SNLP_Related::register();
	// Wherever the settings change (settings page, code, migration), cached answers go stale.
	add_action( 'update_option_' . SNLP_Options::SETTINGS, array( 'SNLP_Admin', 'after_settings_change' ) );
	add_action( 'add_option_' . SNLP_Options::SETTINGS, array( 'SNLP_Admin', 'after_settings_change' ) );
	add_action( 'update_option_' . SNLP_Options::TOKEN, array( 'SNLP_Admin', 'after_settings_change' ) );
	add_action( 'add_option_' . SNLP_Options::TOKEN, array( 'SNLP_Admin', 'after_settings_change' ) );
	if ( is_admin() ) {
		SNLP_Admin::register();
	}
}
add_action( 'plugins_loaded', 'snlp_boot' );

/**
 * Deactivation: stop scheduled work (options stay until the plugin is deleted).
 */
function snlp_deactivate() {
	wp_unschedule_hook( SNLP_Comments::HOOK );
	wp_unschedule_hook( SNLP_Comments::REQUEUE_HOOK );
	wp_unschedule_hook( SNLP_Related::HOOK );
}
register_deactivation_hook( __FILE__, 'snlp_deactivate' );
