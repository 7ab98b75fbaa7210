<?php
/**
 * Runs when the plugin is deleted from Plugins > Installed Plugins: removes its options,
 * transients, scheduled events and the comment/post meta it wrote, on every site.
 *
 * @package ServerlessNlpSentiment
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

require_once __DIR__ . '/includes/class-snlp-options.php';
require_once __DIR__ . '/includes/class-snlp-comments.php';
require_once __DIR__ . '/includes/class-snlp-related.php';

/**
 * Remove everything the plugin stored on the current site.
 */
function snlp_uninstall_site() {
	global $wpdb;
	foreach ( SNLP_Options::ALL as $option ) {
		delete_option( $option );
	}
	// Cached results, the breaker and connection-test results are transients named snlp_*.
	// phpcs:ignore WordPress.DB.DirectDatabaseQuery.DirectQuery, WordPress.DB.DirectDatabaseQuery.NoCaching
	$wpdb->query(
		$wpdb->prepare(
			"DELETE FROM {$wpdb->options} WHERE option_name LIKE %s OR option_name LIKE %s",
			$wpdb->esc_like( '_transient_snlp_' ) . '%',
			$wpdb->esc_like( '_transient_timeout_snlp_' ) . '%'
		)
	);
	foreach ( array( SNLP_Comments::HOOK, SNLP_Comments::REQUEUE_HOOK, SNLP_Related::HOOK ) as $hook ) {
		wp_unschedule_hook( $hook );
	}
	foreach ( SNLP_Comments::META_KEYS as $key ) {
		delete_metadata( 'comment', 0, $key, '', true );
	}
	foreach ( SNLP_Related::META_KEYS as $key ) {
		delete_metadata( 'post', 0, $key, '', true );
	}
}

if ( is_multisite() ) {
	foreach ( get_sites( array( 'fields' => 'ids', 'number' => 0 ) ) as $snlp_site_id ) {
		switch_to_blog( $snlp_site_id );
		snlp_uninstall_site();
		restore_current_blog();
	}
} else {
	snlp_uninstall_site();
}
