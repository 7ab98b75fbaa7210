<?php
/**
 * Command-line helper for the end-to-end test (wp-cli is not packaged in Debian 12):
 * loads the WordPress under test and does one thing, printing JSON.
 *
 *   php wp-helper.php <wordpress dir> install <site url> <admin user> <admin password>
 *   php wp-helper.php <wordpress dir> activate
 *   php wp-helper.php <wordpress dir> create-post <title> <content> [author id]
 *   php wp-helper.php <wordpress dir> create-user <login> <role>
 *   php wp-helper.php <wordpress dir> approve-comment <comment id>
 *   php wp-helper.php <wordpress dir> comment-state <comment id>
 *   php wp-helper.php <wordpress dir> latest-comment
 *   php wp-helper.php <wordpress dir> fast-forward <cron hook>
 *   php wp-helper.php <wordpress dir> related-state <post id>
 *   php wp-helper.php <wordpress dir> option <name>
 *   php wp-helper.php <wordpress dir> uninstall
 *
 * @package ServerlessNlpSentiment
 */

if ( PHP_SAPI !== 'cli' || $argc < 3 ) {
	fwrite( STDERR, "usage: php wp-helper.php <wordpress dir> <command> [args]\n" );
	exit( 2 );
}

$wp_dir  = rtrim( $argv[1], '/' );
$command = $argv[2];
$args    = array_slice( $argv, 3 );
$snlp_plugin_file  = 'serverless-nlp-sentiment/serverless-nlp-sentiment.php';

// This process must not spawn cron itself: the test drives wp-cron.php over HTTP.
define( 'DISABLE_WP_CRON', true );
$_SERVER['HTTP_HOST']   = getenv( 'SNLP_E2E_HOST' ) ?: '127.0.0.1';
$_SERVER['SERVER_NAME'] = '127.0.0.1';
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['SERVER_PORT'] = '80';

/**
 * Print a JSON answer and stop.
 *
 * @param mixed $data Answer.
 * @param int   $code Exit code.
 */
function snlp_e2e_out( $data, $code = 0 ) {
	echo json_encode( $data, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES ), "\n";
	exit( $code );
}

if ( 'install' === $command ) {
	define( 'WP_INSTALLING', true );
	require $wp_dir . '/wp-load.php';
	require_once ABSPATH . 'wp-admin/includes/upgrade.php';
	if ( is_blog_installed() ) {
		snlp_e2e_out( array( 'installed' => 'already' ) );
	}
	list( $url, $user, $password ) = $args;
	$result                        = wp_install( 'SNLP E2E', $user, 'admin@example.com', false, '', wp_slash( $password ) );
	update_option( 'comment_moderation', 0 );
	update_option( 'comment_previously_approved', 0 );
	update_option( 'require_name_email', 1 );
	snlp_e2e_out( array( 'installed' => true, 'user_id' => $result['user_id'], 'url' => $url ) );
}

require $wp_dir . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';
wp_set_current_user( 1 );

switch ( $command ) {
	case 'activate':
		switch_theme( 'snlp-e2e' );
		$result = activate_plugin( $snlp_plugin_file );
		if ( is_wp_error( $result ) ) {
			snlp_e2e_out( array( 'error' => $result->get_error_message() ), 1 );
		}
		snlp_e2e_out( array( 'active' => is_plugin_active( $snlp_plugin_file ), 'theme' => get_stylesheet() ) );
		break;

	case 'create-post':
		$id = wp_insert_post(
			array(
				'post_title'   => $args[0],
				'post_content' => $args[1],
				'post_status'  => 'publish',
				'post_author'  => isset( $args[2] ) ? (int) $args[2] : 1,
			),
			true
		);
		if ( is_wp_error( $id ) ) {
			snlp_e2e_out( array( 'error' => $id->get_error_message() ), 1 );
		}
		snlp_e2e_out( array( 'id' => $id, 'url' => get_permalink( $id ) ) );
		break;

	case 'create-user':
		$id = wp_insert_user(
			array(
				'user_login' => $args[0],
				'user_pass'  => wp_generate_password( 24 ),
				'user_email' => $args[0] . '@example.com',
				'role'       => $args[1],
			)
		);
		if ( is_wp_error( $id ) ) {
			snlp_e2e_out( array( 'error' => $id->get_error_message() ), 1 );
		}
		snlp_e2e_out( array( 'id' => $id ) );
		break;

	case 'approve-comment':
		snlp_e2e_out( array( 'approved' => wp_set_comment_status( (int) $args[0], 'approve' ) ) );
		break;

	case 'comment-state':
		$id     = (int) $args[0];
		$events = array();
		foreach ( _get_cron_array() as $timestamp => $hooks ) {
			foreach ( isset( $hooks['snlp_classify_comment'] ) ? $hooks['snlp_classify_comment'] : array() as $event ) {
				if ( (int) $event['args'][0] === $id ) {
					$events[] = array( 'in_s' => $timestamp - time(), 'attempt' => $event['args'][1] );
				}
			}
		}
		$comment = get_comment( $id );
		snlp_e2e_out(
			array(
				'exists'   => (bool) $comment,
				'approved' => $comment ? $comment->comment_approved : null,
				'label'    => get_comment_meta( $id, '_snlp_sentiment', true ),
				'score'    => get_comment_meta( $id, '_snlp_sentiment_score', true ),
				'status'   => get_comment_meta( $id, '_snlp_sentiment_status', true ),
				'attempts' => get_comment_meta( $id, '_snlp_sentiment_attempts', true ),
				'error'    => get_comment_meta( $id, '_snlp_sentiment_error', true ),
				'model'    => get_comment_meta( $id, '_snlp_sentiment_model', true ),
				'events'   => $events,
			)
		);
		break;

	case 'latest-comment':
		$ids = get_comments( array( 'number' => 1, 'orderby' => 'comment_ID', 'order' => 'DESC', 'fields' => 'ids', 'status' => 'any' ) ); // any: spam too
		snlp_e2e_out( array( 'id' => $ids ? (int) $ids[0] : 0 ) );
		break;

	case 'fast-forward':
		// Make a hook's scheduled events due now (a retry scheduled minutes ahead, without waiting).
		$crons = _get_cron_array();
		$moved = 0;
		foreach ( $crons as $timestamp => $hooks ) {
			if ( isset( $hooks[ $args[0] ] ) && $timestamp > time() - 1 ) {
				$due = time() - 1;
				foreach ( $hooks[ $args[0] ] as $key => $event ) {
					$crons[ $due ][ $args[0] ][ $key ] = $event;
					$moved++;
				}
				unset( $crons[ $timestamp ][ $args[0] ] );
				if ( array() === $crons[ $timestamp ] ) {
					unset( $crons[ $timestamp ] );
				}
			}
		}
		ksort( $crons );
		_set_cron_array( $crons );
		snlp_e2e_out( array( 'moved' => $moved ) );
		break;

	case 'related-state':
		global $wpdb;
		snlp_e2e_out(
			array(
				'embedded_posts' => (int) $wpdb->get_var( "SELECT COUNT(*) FROM {$wpdb->postmeta} WHERE meta_key = '_snlp_embedding'" ),
				'related'        => array_map( 'get_the_title', SNLP_Related::related_ids( (int) $args[0] ) ),
				'embed_events'   => wp_next_scheduled( 'snlp_embed_posts' ),
				'last_error'     => get_option( 'snlp_last_error', null ),
			)
		);
		break;

	case 'option':
		snlp_e2e_out( array( 'value' => get_option( $args[0], null ) ) );
		break;

	case 'uninstall':
		$before = count( array_filter( SNLP_Options::ALL, 'get_option' ) );
		if ( 0 === $before ) {
			snlp_e2e_out( array( 'error' => 'nothing to uninstall: the test did not store any settings' ), 1 );
		}
		deactivate_plugins( $snlp_plugin_file );
		uninstall_plugin( $snlp_plugin_file );
		global $wpdb;
		$left = $wpdb->get_col( "SELECT option_name FROM {$wpdb->options} WHERE option_name LIKE 'snlp\\_%' OR option_name LIKE '\\_transient%\\_snlp\\_%'" );
		$meta = (int) $wpdb->get_var( "SELECT COUNT(*) FROM {$wpdb->commentmeta} WHERE meta_key LIKE '\\_snlp%'" );
		$post = (int) $wpdb->get_var( "SELECT COUNT(*) FROM {$wpdb->postmeta} WHERE meta_key LIKE '\\_snlp%'" );
		snlp_e2e_out( array( 'options_left' => $left, 'comment_meta_left' => $meta, 'post_meta_left' => $post ) );
		break;

	default:
		snlp_e2e_out( array( 'error' => 'unknown command ' . $command ), 2 );
}
