<?php
/**
 * Must-use plugin of the end-to-end test site only: lets one visitor post several comments
 * in a few seconds (core refuses a second comment from one IP within 15 s) and keeps
 * WordPress from calling sendmail, which a test machine does not have. Comments containing
 * "[spam-me]" are filed as spam and "[hold-me]" held for moderation, as a spam filter and a
 * moderation rule would (the flood check sends neither to the API).
 *
 * @package ServerlessNlpSentiment
 */

remove_action( 'check_comment_flood', 'check_comment_flood_db', 10 );
add_filter( 'pre_wp_mail', '__return_true' );
add_filter(
	'pre_comment_approved',
	function ( $approved, $data ) {
		$text = isset( $data['comment_content'] ) ? (string) $data['comment_content'] : '';
		if ( false !== strpos( $text, '[spam-me]' ) ) {
			return 'spam';
		}
		return false !== strpos( $text, '[hold-me]' ) ? 0 : $approved;
	},
	10,
	2
);
