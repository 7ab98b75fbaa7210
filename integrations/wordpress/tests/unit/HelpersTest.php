<?php
/**
 * The pure helpers: token masking, backoff, widget markup, error bookkeeping, vector packing.
 *
 * @package ServerlessNlpSentiment
 */

use PHPUnit\Framework\TestCase;

final class HelpersTest extends TestCase {

	protected function setUp(): void {
		Fake_Options::$values = array();
		Fake_Options::$writes = 0;
	}

	public function test_mask_hides_the_token() {
		$token  = 'snlp_live_0123456789abcdefWXYZ';
		$masked = SNLP_Options::mask( $token );
		$this->assertStringEndsWith( 'WXYZ', $masked );
		$this->assertStringNotContainsString( 'snlp_live', $masked );
		$this->assertSame( '', SNLP_Options::mask( '' ) );
		$this->assertStringNotContainsString( 'abc', SNLP_Options::mask( 'short-abc' ), 'short tokens show none of themselves' );
	}

	public function test_backoff_doubles_is_capped_and_honours_retry_after() {
		$this->assertSame( 60, SNLP_Comments::backoff_delay( 0 ) );
		$this->assertSame( 120, SNLP_Comments::backoff_delay( 1 ) );
		$this->assertSame( 480, SNLP_Comments::backoff_delay( 3 ) );
		$this->assertSame( SNLP_Comments::MAX_DELAY, SNLP_Comments::backoff_delay( 20 ) );
		$this->assertSame( 66, SNLP_Comments::backoff_delay( 0, 0, 1.0 ), 'jitter adds at most 10 %' );
		$this->assertSame( 900, SNLP_Comments::backoff_delay( 0, 900 ), 'never sooner than Retry-After' );
	}

	public function test_widget_escapes_labels_and_clamps_the_bar() {
		$html = SNLP_Render::widget_html( '<script>alert(1)</script>', 1.7 );
		$this->assertStringNotContainsString( '<script>', $html );
		$this->assertStringContainsString( '&lt;script&gt;', $html );
		$this->assertStringContainsString( 'width:100%', $html );

		$html = SNLP_Render::widget_html( 'positive', 0.934 );
		$this->assertStringContainsString( 'data-label="positive"', $html );
		$this->assertStringContainsString( 'snlp-sentiment--positive', $html );
		$this->assertStringContainsString( '>Positive<', $html );
		$this->assertStringContainsString( 'width:93%', $html );
		$this->assertStringContainsString( 'aria-label="Confidence 93%"', $html );
	}

	public function test_errors_are_recorded_once_and_cleared_by_success() {
		$err = SNLP_Api_Client::error_from_response( 401, '{"detail":"bad token"}' );
		SNLP_Options::record_error( $err );
		SNLP_Options::record_error( $err );
		$this->assertSame( 1, Fake_Options::$writes, 'a repeated failure does not rewrite the option' );
		$this->assertSame( SNLP_Api_Client::ERR_AUTH, SNLP_Options::last_error()['code'] );

		SNLP_Options::record_error( SNLP_Api_Client::error_from_response( 429, '', '60' ) );
		$this->assertSame( 60, SNLP_Options::last_error()['retry_after'] );

		SNLP_Options::clear_error();
		$this->assertNull( SNLP_Options::last_error() );
	}

	public function test_known_labels_default_and_grow() {
		$this->assertSame( array( 'negative', 'neutral', 'positive' ), SNLP_Options::known_labels() );
		SNLP_Options::remember_labels( array( 'positive', 'negative' ) );
		SNLP_Options::remember_labels( array( 'negative', 'positive' ) );
		$this->assertSame( 1, Fake_Options::$writes );
		$this->assertSame( array( 'negative', 'positive' ), SNLP_Options::known_labels() );
	}

	public function test_vectors_survive_packing_at_float32_precision() {
		$v      = array( 0.1, -0.25, 0.5, 1.0 / 3.0 );
		$packed = SNLP_Related::pack( $v );
		$this->assertSame( 24, strlen( $packed ), '4 floats * 4 bytes, base64' );
		$back = SNLP_Related::unpack( $packed );
		foreach ( $v as $i => $x ) {
			$this->assertEqualsWithDelta( $x, $back[ $i ], 1e-7 );
		}
		$this->assertSame( array(), SNLP_Related::unpack( 'not base64!' ) );
		$this->assertEqualsWithDelta( 1.0, SNLP_Related::dot( array( 0.6, 0.8 ), array( 0.6, 0.8 ) ), 1e-12 );
	}
}
