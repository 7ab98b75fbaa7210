<?php
/**
 * The site's quota is spent only on purpose: approved comments only, at most the hourly cap
 * of them; a model named in a shortcode or block only for authors with the chosen capability.
 *
 * @package ServerlessNlpSentiment
 */

use PHPUnit\Framework\TestCase;

final class CommentsTest extends TestCase {

	protected function setUp(): void {
		Fake_Http::reset();
		Fake_Comments::reset();
		Fake_Posts::$current   = null;
		Fake_Posts::$user_caps = array();
		Fake_User::$caps       = array();
		Fake_Options::$values  = array(
			SNLP_Options::SETTINGS => array(
				'base_url'          => 'https://api.example.test',
				'comments_per_hour' => 3,
			),
			SNLP_Options::TOKEN    => 'snlp_test_token_0123456789',
		);
	}

	private static function positive() {
		Fake_Http::answer( 200, array( 'model' => 'sentiment', 'predictions' => array( array( 'label' => 'positive', 'score' => 0.9, 'scores' => array( 'positive' => 0.9 ) ) ) ) );
	}

	public function test_only_approved_comments_are_queued() {
		foreach ( array( 1 => 1, 2 => 0, 3 => 'spam', 4 => 'trash', 5 => '1' ) as $id => $approved ) {
			Fake_Comments::add( $id, $approved, 'text ' . $id );
			SNLP_Comments::on_comment_post( $id, $approved );
		}
		$this->assertSame( array( 1, 5 ), array_map( function ( $e ) {
			return $e['args'][0];
		}, Fake_Comments::$events ), 'held, spam and trashed comments are not queued' );
		$this->assertSame( '', get_comment_meta( 2, SNLP_Comments::META_STATUS ) );
	}

	public function test_a_held_comment_is_queued_when_a_moderator_approves_it() {
		Fake_Comments::add( 7, 0, 'held for moderation' );
		SNLP_Comments::on_status_change( 'spam', 'unapproved', get_comment( 7 ) );
		$this->assertSame( array(), Fake_Comments::$events );
		SNLP_Comments::on_status_change( 'approved', 'unapproved', get_comment( 7 ) );
		$this->assertCount( 1, Fake_Comments::$events );
		$this->assertSame( 'pending', get_comment_meta( 7, SNLP_Comments::META_STATUS ) );
	}

	public function test_a_comment_unapproved_after_it_was_queued_is_not_sent() {
		Fake_Comments::add( 8, 0, 'queued, then held' );
		SNLP_Comments::classify_comment( 8 );
		Fake_Comments::add( 9, 'spam', 'queued, then spammed' );
		SNLP_Comments::classify_comment( 9 );
		$this->assertSame( array(), Fake_Http::$sent );
	}

	public function test_a_comment_flood_sends_at_most_the_hourly_cap() {
		for ( $id = 1; $id <= 10; $id++ ) {
			Fake_Comments::add( $id, 1, 'flood comment ' . $id );
		}
		for ( $i = 0; $i < 3; $i++ ) {
			self::positive();
		}
		for ( $id = 1; $id <= 10; $id++ ) {
			SNLP_Comments::classify_comment( $id );
		}
		$this->assertCount( 3, Fake_Http::$sent, 'three texts reach the API this hour, not ten' );
		$status = array_map( function ( $id ) {
			return get_comment_meta( $id, SNLP_Comments::META_STATUS );
		}, range( 1, 10 ) );
		$this->assertSame( array_merge( array_fill( 0, 3, 'done' ), array_fill( 0, 7, 'deferred' ) ), $status );
		$next = SNLP_Comments::next_hour();
		foreach ( Fake_Comments::$events as $event ) {
			$this->assertGreaterThanOrEqual( $next, $event['time'], 'the rest wait for the next hour' );
			$this->assertSame( 0, $event['args'][1], 'waiting for the cap is not a failed attempt' );
		}
		$this->assertCount( 7, Fake_Comments::$events );
	}

	public function test_the_cap_starts_again_each_hour() {
		$hour = 1_800_000_000 - ( 1_800_000_000 % 3600 );
		$this->assertTrue( SNLP_Comments::take_hourly_slot( $hour + 1 ) );
		$this->assertTrue( SNLP_Comments::take_hourly_slot( $hour + 2 ) );
		$this->assertTrue( SNLP_Comments::take_hourly_slot( $hour + 3 ) );
		$this->assertFalse( SNLP_Comments::take_hourly_slot( $hour + 3599 ) );
		$this->assertTrue( SNLP_Comments::take_hourly_slot( $hour + 3600 ) );
		$this->assertSame( $hour + 3600, SNLP_Comments::next_hour( $hour + 5 ) );
	}

	public function test_only_authors_with_the_chosen_capability_pick_the_model() {
		Fake_Posts::$user_caps = array(
			2 => array( 'edit_posts', 'publish_posts' ),
			3 => array( 'edit_posts', 'publish_posts', 'edit_others_posts', 'manage_options' ),
		);
		Fake_Posts::$current = (object) array( 'post_author' => '2' );
		$this->assertSame( '', SNLP_Render::allowed_model( 'sentiment-large@7' ), 'an author gets the configured model' );
		Fake_Posts::$current = (object) array( 'post_author' => '3' );
		$this->assertSame( 'sentiment-large@7', SNLP_Render::allowed_model( 'sentiment-large@7' ) );

		Fake_Options::$values[ SNLP_Options::SETTINGS ]['model_capability'] = 'publish_posts';
		Fake_Posts::$current = (object) array( 'post_author' => '2' );
		$this->assertSame( 'sentiment-large@7', SNLP_Render::allowed_model( 'sentiment-large@7' ) );

		Fake_Posts::$current = null; // Outside a post: the current user decides.
		$this->assertSame( '', SNLP_Render::allowed_model( 'sentiment-large@7' ) );
		Fake_User::$caps = array( 'publish_posts' );
		$this->assertSame( 'sentiment-large@7', SNLP_Render::allowed_model( 'sentiment-large@7' ) );
		$this->assertSame( '', SNLP_Render::allowed_model( '' ) );
	}
}
