<?php
/**
 * The admin notice: who sees it and what it says for each kind of failure.
 *
 * @package ServerlessNlpSentiment
 */

use PHPUnit\Framework\TestCase;

final class NoticesTest extends TestCase {

	protected function setUp(): void {
		Fake_Options::$values = array();
		Fake_User::$caps      = array( 'manage_options' );
	}

	private function render() {
		ob_start();
		SNLP_Notices::render();
		return ob_get_clean();
	}

	public function test_no_notice_while_the_api_works() {
		$this->assertSame( '', $this->render() );
	}

	public function test_bad_token_notice_links_to_the_settings() {
		SNLP_Options::record_error( SNLP_Api_Client::error_from_response( 403, '{"detail":"token revoked"}' ) );
		$html = $this->render();
		$this->assertStringContainsString( 'notice-error', $html );
		$this->assertStringContainsString( 'data-snlp-error="snlp_auth"', $html );
		$this->assertStringContainsString( 'The API rejected your token', $html );
		$this->assertStringContainsString( 'href="https://site.test/wp-admin/options-general.php?page=snlp-settings"', $html );
	}

	public function test_quota_notice_is_a_warning_with_the_time_left() {
		SNLP_Options::record_error( SNLP_Api_Client::error_from_response( 429, '', '600' ) );
		Fake_Options::$values[ SNLP_Options::LAST_ERROR ]['time'] -= 120; // Recorded two minutes ago.
		$html = $this->render();
		$this->assertStringContainsString( 'notice-warning', $html );
		$this->assertStringContainsString( 'quota is used up', $html );
		$this->assertStringContainsString( 'in about 8 mins', $html );
	}

	public function test_api_down_notice() {
		SNLP_Options::record_error( SNLP_Api_Client::error_from_response( 503, '' ) );
		$this->assertStringContainsString( 'not reachable right now', $this->render() );
	}

	public function test_only_administrators_see_it() {
		SNLP_Options::record_error( SNLP_Api_Client::error_from_response( 401, '' ) );
		Fake_User::$caps = array( 'edit_posts' );
		$this->assertSame( '', $this->render() );
	}
}
